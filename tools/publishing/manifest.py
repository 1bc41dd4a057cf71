"""Publish multi-arch tags: ``<set>`` from the per-platform tags ``<set>-<arch>``.

``docker buildx imagetools create`` is used because it accepts the attestation
indexes that buildx pushes by default (``docker manifest`` rejects them).
Everything is checked before anything is pushed: if one platform image of a
set is missing, nothing at all is pushed.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..configuration.config import Config, ReleaseSet
from ..configuration.matrix import image_ref, tag_for


@dataclass(frozen=True)
class Publication:
    """One multi-arch tag to create from per-platform sources."""

    image: str
    set_name: str
    target: str
    sources: tuple[str, ...]
    platforms: tuple[str, ...]  # OCI platform strings expected in the result
    aliases: tuple[str, ...] = ()


def alias_tags(cfg: Config, release: ReleaseSet, aliases: tuple[str, ...]) -> list[str]:
    """Moving tags this set should carry: 'latest' for the highest set, 'X.Y' for the highest X.Y.z."""
    ordered = cfg.sorted_sets()
    tags = []
    if "latest" in aliases and ordered[-1].name == release.name:
        tags.append("latest")
    if "minor" in aliases:
        version = release.orthanc_version
        series = [s for s in ordered if s.orthanc_version.release[:2] == version.release[:2]]
        if series[-1].name == release.name:
            tags.append(f"{version.release[0]}.{version.release[1]}")
    return tags


def publications(cfg: Config, set_names: list[str], images: list[str], registry: str, namespace: str) -> list[Publication]:
    publications = []
    for name in set_names:
        release = cfg.release_set(name)
        for image in images:
            sources = tuple(image_ref(registry, namespace, image, tag_for(name, arch)) for arch in release.platforms)
            publications.append(Publication(
                image=image,
                set_name=name,
                target=image_ref(registry, namespace, image, tag_for(name)),
                sources=sources,
                platforms=tuple(cfg.platforms[arch] for arch in release.platforms),
                aliases=tuple(image_ref(registry, namespace, image, tag)
                              for tag in alias_tags(cfg, release, cfg.settings.aliases)),
            ))
    return publications
