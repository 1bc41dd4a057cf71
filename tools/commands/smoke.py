"""``smoke``: start the built images and check them over Orthanc's REST API."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass

from .. import docker
from ..configuration import config, matrix
from ..errors import UsageError
from ..planning.spec import target_of
from ..running import smoke
from .checks import RegistryRequest, check_platform, check_set_name


@dataclass(frozen=True)
class SmokeRequest(RegistryRequest):
    set_name: str | None = None
    platform: str | None = None  # default: the host's
    images: tuple[str, ...] = ()  # default: those present locally
    timeout: float | None = None  # default: 120 s, 900 s emulated


def run(request: SmokeRequest) -> int:
    cfg = config.load(request.config)
    request.check()
    check_set_name(request.set_name)
    release = cfg.release_set(request.set_name or cfg.settings.default_set)
    here = matrix.host_platform()
    arch = request.platform or here
    check_platform(release, arch)
    oci = cfg.platforms[arch]
    target = target_of(cfg, request.registry, request.namespace)
    emulated = arch != here
    timeout = request.timeout or (900 if emulated else 120)
    refs = {image: matrix.image_ref(target.registry, target.namespace, image, matrix.tag_for(release.name, arch))
            for image in (request.images or config.IMAGES)}
    if not request.images:
        refs = {image: ref for image, ref in refs.items() if docker.image_present(ref, oci)}
    if not refs:
        raise UsageError(f"no {release.name}-{arch} image here; build it first (nox -s build-{release.name}-{arch})")
    version = release.pins["orthanc"].version
    for image, ref in refs.items():
        print(f"==> smoke {ref} ({oci}{', emulated' if emulated else ''})", flush=True)
        if request.dry_run:
            continue
        password = secrets.token_hex(12)
        users = {"ORTHANC__REGISTERED_USERS": json.dumps({"smoke": password})}
        without = smoke.left_out(ref)
        if without:
            print(f"    built without {', '.join(without)}", flush=True)
        with smoke.running(ref, oci, users, "smoke", password, timeout) as (client, _, _):
            found = smoke.check_core(client, version, smoke.expected_plugins(image, without))
        print(f"    Orthanc {found['system']['Version']}, plugins {', '.join(found['plugins'])}, "
              f"instance {found['instance']['ID']} stored and read back")
    print("smoke: ok")
    return 0


def plugins_image(config_path, set_name: str, arch: str) -> str | None:
    """The local orthanc-plugins image of the set for the platform (default registry and namespace),
    or None: what the plugins' functional checks of a smoke session run against."""
    cfg = config.load(config_path)
    release = cfg.release_set(set_name)
    target = target_of(cfg, None, None)
    ref = matrix.image_ref(target.registry, target.namespace, "orthanc-plugins", matrix.tag_for(release.name, arch))
    return ref if docker.image_present(ref, cfg.platforms[arch]) else None
