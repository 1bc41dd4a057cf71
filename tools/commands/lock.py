"""``lock``: write versions.lock, the Debian packages every build installs, at the versions Debian
offers today (``planning.debian_lock`` says how; ``nox -s lock`` runs it).

For each distribution a release set builds on, in a container of its base image: the dpkg status of
the base image of every platform, then apt's simulated installs of every stage, for every pair of
build machine and target architecture.  The file is replaced whole after each distribution.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from .. import docker
from ..configuration import config
from ..errors import FatalError, UsageError, last_line
from ..paths import DEFAULT_CONFIG, DEFAULT_DOCKERFILE
from ..planning import debian_lock
from .checks import check_dockerfile


@dataclass(frozen=True)
class LockRequest:
    distributions: tuple[str, ...] = ()  # none: every distribution a set builds on
    config: Path = DEFAULT_CONFIG
    dockerfile: Path = DEFAULT_DOCKERFILE
    base_registry: str | None = None
    dry_run: bool = False


def chosen_distributions(cfg: config.Config, asked: tuple[str, ...]) -> list[str]:
    """The distributions to lock: those asked for (each must be in versions.toml), else every one a set uses."""
    for name in asked:
        if name not in cfg.distributions:
            raise UsageError(f"{cfg.path}: distribution '{name}' is not one of {', '.join(cfg.distributions)}")
    used = list(dict.fromkeys(release.base for release in cfg.sorted_sets()))
    return list(asked) if asked else used


def debian_arches(cfg: config.Config) -> dict[str, str]:
    """Debian architecture -> OCI platform, for versions.toml's platforms."""
    arches = {}
    for platform in cfg.platforms.values():  # versions.toml's platforms are supported ones (config checks)
        arches[config.SUPPORTED_PLATFORMS[platform].debian_arch] = platform
    return arches


def lock_distribution(image: str, name: str, seeds: debian_lock.Seeds, arches: dict[str, str]) -> debian_lock.DistributionLock:
    """One distribution's lock, from apt in containers of its base image."""
    with tempfile.TemporaryDirectory(prefix="debian-lock-") as tmp:
        env = {}
        for arch, platform in arches.items():
            status = docker.file_in(image, platform, "/var/lib/dpkg/status")
            if status is None:
                raise FatalError(f"lock: {name}: the base image {image} for {platform} cannot be read "
                                 "(is it in the registry? `nox -s provision` makes the local ones)")
            (Path(tmp) / f"status-{arch}").write_text(status)
            env[f"STATUS_{arch}"] = f"/lock/status-{arch}"
        proc = docker.script_in(image, debian_lock.simulation_script(seeds, list(arches)), {tmp: "/lock"}, env)
    if proc.returncode != 0:
        raise FatalError(f"lock: {name}: apt in {image} failed: {last_line(proc.stderr)}")
    try:
        simulated = debian_lock.parse_simulation(proc.stdout)
    except ValueError as exc:
        raise FatalError(f"lock: {name}: {exc}") from None
    for title, reason in simulated.failed.items():
        if debian_lock.required(title):
            raise FatalError(f"lock: {name}: apt cannot install the packages of the {title} stages: {reason}")
        print(f"    {title}: not locked, apt cannot install it ({reason})", flush=True)
    packages = simulated.packages
    if not packages:
        raise FatalError(f"lock: {name}: apt named no package to install in {image}")
    made = datetime.now(timezone.utc).isoformat(timespec="seconds")
    return debian_lock.DistributionLock(name, image, made, packages, docker.image_digest(image) or "")


def run(request: LockRequest) -> int:
    cfg = config.load(request.config)
    check_dockerfile(request.dockerfile)
    setup_builder = request.dockerfile.resolve().parent / "build" / "setup-builder.sh"
    try:
        seeds = debian_lock.seeds(request.dockerfile.read_text(), setup_builder.read_text())
    except ValueError as exc:
        raise UsageError(f"{setup_builder}: {exc}") from None
    lock_path = cfg.root / debian_lock.LOCK_FILE
    locks = debian_lock.load(lock_path)
    arches = debian_arches(cfg)
    for name in chosen_distributions(cfg, request.distributions):
        # Written after each distribution (whole, by rename): one that fails keeps the others.
        image = cfg.distribution_image(name, request.base_registry)
        print(f"==> {name}: apt in {image} for {', '.join(arches)}: {len(seeds.target)} builder, "
              f"{len(seeds.build_machine)} build-machine and {len(seeds.runtime)} runtime packages", flush=True)
        if request.dry_run:
            continue
        locks[name] = lock_distribution(image, name, seeds, arches)
        write(lock_path, debian_lock.render(list(locks.values())))
        print(f"    {sum(len(v) for v in locks[name].packages.values())} packages locked in {lock_path}", flush=True)
    return 0


def write(path: Path, text: str) -> None:
    """Replace the file whole: written beside it, then renamed over it."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.fchmod(fd, 0o644)  # a file of the clone, as git would write it (mkstemp's is private)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.replace(tmp, path)
