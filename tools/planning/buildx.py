"""Construct ``docker buildx build`` command lines (pure: nothing is run here)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..configuration.config import COMPONENTS, IMAGES, Config
from ..configuration.matrix import Build, image_ref

LABEL_PREFIX = "org.orthanc-images"
OCI = "org.opencontainers.image"


@dataclass(frozen=True)
class Options:
    """What the user chose for this invocation (posargs), with versions.toml defaults."""

    registry: str
    namespace: str
    base_registry: str
    dockerfile: Path
    context: Path
    push: bool = False
    no_cache: bool = False
    builder: str | None = None
    docker_context: str | None = None  # a builder that is a docker context (docker driver)
    emulate: bool = False
    static: bool = False  # Orthanc's static build (downloads) instead of the distribution's libraries
    cache_registry: bool = False
    revision: str = "unknown"
    source_url: str = ""
    build_contexts: dict[str, str] = field(default_factory=dict)
    no_cache_filter: tuple[str, ...] = ()  # stages to rebuild even when cached
    jobs_file: Path | None = None  # holds the compile jobs per stage, given as the build secret `jobs`


def build_args(config: Config, build: Build, options: Options) -> dict[str, str]:
    release = config.release_set(build.set_name)
    args = {
        "BASE_IMAGE": config.base_image(release, options.base_registry),
        "BUILDER": "emulated" if options.emulate else "cross",
    }
    if options.static:
        args["LIBRARIES"] = "static"
    for name in COMPONENTS:
        args[config.components[name].build_arg] = release.pins[name].branch
    return args


def labels(config: Config, build: Build, options: Options, created: str) -> dict[str, str]:
    release = config.release_set(build.set_name)
    result = {
        f"{OCI}.title": build.image,
        f"{OCI}.version": build.set_name,
        f"{OCI}.revision": options.revision,
        f"{OCI}.created": created,
    }
    if options.source_url:
        result[f"{OCI}.source"] = options.source_url
    left_out = sorted(name.removeprefix("build-") for name in options.build_contexts if name.startswith("build-"))
    for name in COMPONENTS:
        if name not in left_out or build.image == "orthanc":
            result[f"{LABEL_PREFIX}.{name}.version"] = release.pins[name].version
    result[f"{LABEL_PREFIX}.base"] = release.base
    if left_out and build.image != "orthanc":
        result[f"{LABEL_PREFIX}.without"] = ",".join(left_out)
    return result


def cache_ref(build: Build, options: Options, image: str | None = None) -> str:
    """Registry cache of one image and platform(s): a later build of any set reuses unchanged stages."""
    return image_ref(options.registry, options.namespace, "build-cache",
                     f"{image or build.image}-{'-'.join(build.platforms)}")


def cache_sources(build: Build, options: Options) -> list[str]:
    """Where a build looks for cached stages: its own reference first, then the other images' of
    the same platform(s), since both images share the builder and core stages."""
    return [cache_ref(build, options, image) for image in (build.image, *[i for i in IMAGES if i != build.image])]


def tags(build: Build, options: Options) -> list[str]:
    return [image_ref(options.registry, options.namespace, build.image, build.tag)]


def command(
    config: Config,
    build: Build,
    options: Options,
    *,
    metadata_file: Path,
    created: str,
    stage: str | None = None,
) -> list[str]:
    """The build of ``build``'s image; with ``stage``, of that stage only, into the cache alone."""
    cmd = ["docker", "buildx", "build"]
    if options.docker_context:
        # buildx uses a docker-driver builder of another context only through --context.
        cmd = ["docker", "--context", options.docker_context, "buildx", "build"]
    elif options.builder:
        cmd += ["--builder", options.builder]
    cmd += ["--file", str(options.dockerfile)]
    cmd += ["--target", stage or build.image]
    cmd += ["--platform", ",".join(config.platforms[p] for p in build.platforms)]
    for key, value in build_args(config, build, options).items():
        cmd += ["--build-arg", f"{key}={value}"]
    for name, location in sorted(options.build_contexts.items()):
        cmd += ["--build-context", f"{name}={location}"]
    if options.jobs_file is not None:
        # A secret, not a build argument: the limit is not part of any cache key.
        cmd += ["--secret", f"id=jobs,src={options.jobs_file}"]
    if stage is None:
        for key, value in labels(config, build, options, created).items():
            cmd += ["--label", f"{key}={value}"]
        for tag in tags(build, options):
            cmd += ["--tag", tag]
    if options.cache_registry:
        for source in cache_sources(build, options):
            cmd += ["--cache-from", f"type=registry,ref={source}"]
        ref = cache_ref(build, options)
        if stage is None:
            cmd += ["--cache-to", f"type=registry,ref={ref},mode=max"]
    cmd += ["--metadata-file", str(metadata_file)]
    cmd += ["--progress", "rawjson"]
    if stage is not None:
        cmd += ["--output", "type=cacheonly"]
    else:
        cmd += ["--push"] if options.push else ["--load"]
    if options.no_cache:
        cmd += ["--no-cache"]
    if options.no_cache_filter:
        cmd += ["--no-cache-filter", ",".join(options.no_cache_filter)]
    cmd.append(str(options.context))
    return cmd
