"""``reproduce``: build one image of one set and platform again from nothing (no build cache, its
compiler caches emptied) as a reproducible build, and compare its platform's manifest digest with
the one recorded by the last reproducible build of the same image; on a difference, name the
layers and files that differ.  With no earlier record, it builds twice and compares the two.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..configuration import config
from ..errors import UsageError
from ..paths import DEFAULT_CONFIG, DEFAULT_DOCKERFILE, DEFAULT_SOURCES
from ..planning import dockerfile
from ..planning.spec import BuildRequest
from ..running import bench, machine, oci, results
from . import build

EXIT_DIFFERENT = 1


@dataclass(frozen=True)
class ReproduceRequest:
    set_name: str | None = None
    platform: str | None = None
    image: str | None = None
    keep_compiler_cache: bool = False
    dockerfile: Path = DEFAULT_DOCKERFILE
    results: Path | None = None
    config: Path = DEFAULT_CONFIG
    sources_dir: Path = DEFAULT_SOURCES
    mirror: str | None = None
    source_order: tuple[str, ...] | None = None
    registry: str | None = None
    namespace: str | None = None
    dry_run: bool = False


def earlier_build(records: list[results.Record], set_name: str, image: str, arch: str) -> dict | None:
    """The last successful reproducible build of this image, set and platform with its digest (pure)."""
    for record in reversed(records):
        data = record.data
        if (data.get("status") == "ok" and data.get("reproducible") and data.get("set") == set_name
                and data.get("image") == image and list(data.get("platforms") or []) == [arch]
                and (data.get("platform_digests") or {}).get(arch)):
            return data
    return None


def verdict(first: dict, second: dict, arch: str) -> tuple[bool, str]:
    """Whether two builds' manifests of the platform are the same, told in one line (pure)."""
    a, b = first["platform_digests"][arch], second["platform_digests"][arch]
    label = f"{second['image']}:{second['set']}-{arch}"
    if a == b:
        return True, f"reproduce: {label} is reproducible: {b}, the digest of the build of {first['end']}"
    return False, f"reproduce: {label} differs: {b} now, {a} from the build of {first['end']}"


def run(request: ReproduceRequest) -> int:
    cfg = config.load(request.config)
    set_name = request.set_name or cfg.settings.default_set
    build.check_set_name(set_name)
    release = cfg.release_set(set_name)
    image = request.image or cfg.settings.default_image
    arch = request.platform or machine.host_platform()
    if arch not in release.platforms:
        raise UsageError(f"{request.config}: set '{set_name}': platform '{arch}' is not one of "
                         f"{', '.join(release.platforms)}")
    results_file = request.results or cfg.root / cfg.settings.results
    build_request = BuildRequest(set_name=set_name, platforms=(arch,), images=(image,), no_cache=True,
                                 reproducible=True, results=results_file, config=request.config,
                                 sources_dir=request.sources_dir, mirror=request.mirror,
                                 source_order=request.source_order, registry=request.registry,
                                 namespace=request.namespace, dry_run=request.dry_run,
                                 dockerfile=request.dockerfile)
    build.check_dockerfile(request.dockerfile)
    text = request.dockerfile.read_text()
    needed = dockerfile.ancestors(dockerfile.dependencies(text), image)
    mounts = tuple(bench.cache_mount_id(stage, arch) for stage in dockerfile.compile_stages(text) if stage in needed)
    earlier = earlier_build(results.read(results_file)[0], set_name, image, arch)
    rounds = 2 if earlier is None else 1
    if earlier is None:
        print(f"reproduce: no reproducible build of {image}:{set_name}-{arch} recorded in {results_file}: "
              "building it twice", flush=True)
    else:
        print(f"reproduce: comparing with the build of {earlier['end']} "
              f"({earlier['platform_digests'][arch]})", flush=True)
    for _ in range(rounds):
        if request.dry_run:
            print("reproduce: would empty the compiler caches " + ", ".join(mounts), flush=True)
        elif not request.keep_compiler_cache:
            bench.empty_compiler_cache(mounts)
        code = build.run(build_request)
        if code != 0 or request.dry_run:
            return code
        latest = earlier_build(results.read(results_file)[0], set_name, image, arch)
        if latest is None:
            raise UsageError(f"{results_file}: the build of {image}:{set_name}-{arch} was not recorded")
        if earlier is None:
            earlier = latest
            continue
        same, line = verdict(earlier, latest, arch)
        print(line, flush=True)
        if same:
            return 0
        oci_platform = cfg.platforms[arch]
        try:
            for difference in oci.differences(Path(earlier["archive"]), Path(latest["archive"]), oci_platform):
                print(f"    {difference}", flush=True)
        except (oci.ArchiveError, KeyError) as exc:
            print(f"    (the layers cannot be compared: {exc})", flush=True)
        return EXIT_DIFFERENT
    return 0
