"""The build matrix: release set x platform, image names, and the nox sessions."""

from __future__ import annotations

import platform as _platform
from dataclasses import dataclass

from .config import IMAGES, SUPPORTED_PLATFORMS, Config, ConfigError

#: `uname -m` of a host -> the platform it builds natively.
MACHINE_PLATFORMS = {machine: support.name for support in SUPPORTED_PLATFORMS.values() for machine in support.machines}


@dataclass(frozen=True)
class Build:
    """One buildx invocation: one target image of one set, for one or more platforms."""

    set_name: str
    image: str
    platforms: tuple[str, ...]

    @property
    def tag(self) -> str:
        return tag_for(self.set_name, self.platforms[0] if len(self.platforms) == 1 else None)

    @property
    def label(self) -> str:
        text = f"{self.image}:{self.tag}"
        if len(self.platforms) > 1:
            text += " [" + ",".join(self.platforms) + "]"
        return text


def tag_for(set_name: str, platform: str | None = None) -> str:
    """``<set>-<arch>`` for one platform, ``<set>`` for the multi-arch image."""
    return f"{set_name}-{platform}" if platform else set_name


def repository(registry: str, namespace: str, image: str) -> str:
    parts = [registry.rstrip("/")] if registry else []
    if namespace:
        parts.append(namespace.strip("/"))
    parts.append(image)
    return "/".join(parts)


def image_ref(registry: str, namespace: str, image: str, tag: str) -> str:
    return f"{repository(registry, namespace, image)}:{tag}"


def host_platform(machine: str | None = None) -> str:
    machine = machine or _platform.machine()
    try:
        return MACHINE_PLATFORMS[machine]
    except KeyError:
        raise ConfigError(f"host: machine '{machine}' is none of the known platforms") from None


def expand(
    config: Config,
    set_name: str,
    platforms: list[str] | None = None,
    images: list[str] | None = None,
    together: bool = False,
) -> list[Build]:
    """The builds for one set.

    With ``together`` all platforms go into one buildx call per image,
    tagged ``<set>``; otherwise one call per platform, tagged ``<set>-<arch>``.
    """
    release = config.release_set(set_name)
    chosen = platforms or list(release.platforms)
    for name in chosen:
        if name not in release.platforms:
            raise ConfigError(
                f"{config.path.name}: set '{set_name}': key 'platforms': "
                f"platform '{name}' is not built for this set (it has: {', '.join(release.platforms)})"
            )
    for image in images or []:
        if image not in IMAGES:
            raise ConfigError(f"image '{image}' is unknown (known: {', '.join(IMAGES)})")
    wanted = images or list(IMAGES)
    if together:
        return [Build(set_name, image, tuple(chosen)) for image in wanted]
    return [Build(set_name, image, (name,)) for name in chosen for image in wanted]


@dataclass(frozen=True)
class SessionSpec:
    """A nox session: its name, what it builds or tests, its tags and its description."""

    name: str
    command: str  # build, smoke or reproduce
    set_name: str
    platform: str | None  # None: every platform of the set, in one buildx call
    tags: tuple[str, ...]
    doc: str
    sequential: bool = False  # one stage at a time, one compile job at a time

    @property
    def argv(self) -> tuple[str, ...]:
        """The command line for ``tools.cli`` that the session runs."""
        where = ("--platform", self.platform) if self.platform else ("--together",)
        return (self.command, "--set", self.set_name, *where, *(("--sequential",) if self.sequential else ()))


def session_specs(config: Config) -> list[SessionSpec]:
    specs = []
    for release in config.sorted_sets():
        name = release.name
        for arch in release.platforms:
            oci = config.platforms[arch]
            specs.append(SessionSpec(
                f"build-{name}-{arch}", "build", name, arch,
                (name, arch),
                f"Build {name} images for {oci} (tags {name}-{arch}).",
            ))
            specs.append(SessionSpec(
                f"smoke-{name}-{arch}", "smoke", name, arch,
                ("smoke",),
                f"Smoke-test the built {name}-{arch} images (emulated where not native).",
            ))
            specs.append(SessionSpec(
                f"reproduce-{name}-{arch}", "reproduce", name, arch,
                ("reproduce",),
                f"Rebuild the {name}-{arch} image from nothing and compare its digest with the recorded one.",
            ))
            specs.append(SessionSpec(
                f"build-{name}-{arch}-sequential", "build", name, arch,
                ("sequential",),
                f"Build {name} images for {oci}, one builder stage at a time (low memory).",
                sequential=True,
            ))
        specs.append(SessionSpec(
            f"build-{name}", "build", name, None,
            ("together",),
            f"Build {name} images for {', '.join(release.platforms)} in one buildx call (tag {name}).",
        ))
    return specs
