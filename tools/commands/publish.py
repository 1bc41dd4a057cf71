"""``manifest``: publish the multi-arch tags ``<set>`` from the pushed ``<set>-<arch>`` tags.

Every source is checked before anything is pushed: if one platform image of a set is missing,
nothing at all is pushed.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

from .. import docker
from ..configuration import config
from ..planning.spec import target_of
from ..publishing import manifest
from ..publishing.credentials import login_from_environment
from .checks import RegistryRequest


@dataclass(frozen=True)
class PublishRequest(RegistryRequest):
    sets: tuple[str, ...] = ()  # default: every set with images in the registry
    images: tuple[str, ...] = ()  # default: both


def run(request: PublishRequest) -> int:
    cfg = config.load(request.config)
    request.check()
    target = target_of(cfg, request.registry, request.namespace)
    for name in request.sets:
        cfg.release_set(name)
    images = list(request.images) or list(config.IMAGES)
    named = bool(request.sets)
    if target.registry and not request.dry_run:
        login_from_environment(target.registry)  # the checks below read the registry too
    candidates = manifest.publications(cfg, list(request.sets) or [s.name for s in cfg.sorted_sets()], images,
                                       target.registry, target.namespace)
    # Check every source before pushing anything.
    publications, missing = [], []
    for pub in candidates:
        found = {src: docker.registry_platforms(src) for src in pub.sources}
        absent = [src for src, plats in found.items() if plats is None]
        if len(absent) == len(pub.sources) and not named:
            print(f"skip {pub.target}: no platform image pushed")
            continue
        missing += absent
        publications.append(pub)
    if missing:
        for src in missing:
            print(f"error: missing in the registry: {src}", file=sys.stderr)
        print("error: manifest: nothing pushed, because platform images are missing", file=sys.stderr)
        return 1
    if not publications:
        print("error: manifest: no set has images in the registry", file=sys.stderr)
        return 1
    for pub in publications:
        if not docker.create_index([pub.target, *pub.aliases], list(pub.sources), dry_run=request.dry_run):
            print(f"error: manifest: creating {pub.target} failed", file=sys.stderr)
            return 1
        if request.dry_run:
            continue
        for tag in (pub.target, *pub.aliases):
            got = docker.registry_platforms(tag) or set()
            lacking = sorted(set(pub.platforms) - got)
            if lacking:
                print(f"error: manifest: {tag} lacks {', '.join(lacking)}", file=sys.stderr)
                return 1
            print(f"published {tag}: {', '.join(sorted(got))}")
    return 0
