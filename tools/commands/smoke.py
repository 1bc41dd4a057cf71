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
    refs = image_refs(cfg, target, release.name, arch, request.images or config.IMAGES,
                      present_only=not request.images)
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


def image_refs(cfg: config.Config, target, set_name: str, arch: str, images, present_only: bool) -> dict[str, str]:
    """Image -> its <set>-<arch> reference in the target registry; only those the engine has, if asked."""
    refs = {image: matrix.image_ref(target.registry, target.namespace, image, matrix.tag_for(set_name, arch))
            for image in images}
    if present_only:
        refs = {image: ref for image, ref in refs.items() if docker.image_present(ref, cfg.platforms[arch])}
    return refs


def plugins_image(cfg: config.Config, set_name: str, arch: str) -> str | None:
    """The local orthanc-plugins image of the set for the platform (versions.toml's registry and
    namespace), or None: what the plugins' functional checks of a smoke session run against."""
    release = cfg.release_set(set_name)
    refs = image_refs(cfg, target_of(cfg, None, None), release.name, arch, ("orthanc-plugins",), present_only=True)
    return refs.get("orthanc-plugins")
