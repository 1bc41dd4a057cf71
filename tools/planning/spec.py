"""A build resolved once: (versions.toml, the command line's request) -> one frozen ``BuildSpec`` per
buildx invocation, with every value of it: Dockerfile, target, platforms, build arguments, named
source contexts, tags, labels, cache import and export, output and limits.

``resolve`` is pure: what it needs from outside (the clone's revision, whether the builder is a
docker context, the host, the fetched sources) is gathered first, into ``Facts`` and ``contexts``.
``buildx.command`` renders a spec, the scheduler splits one into jobs (``schedule.split``), the
build command runs and records them, and ``plan --format json`` prints them.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping

from ..configuration.config import COMPONENTS, DEFAULT_TOOLCHAIN, IMAGES, Config
from ..configuration.matrix import Build, expand, image_ref
from ..paths import DEFAULT_CONFIG, DEFAULT_DOCKERFILE, DEFAULT_SOURCES
from . import schedule
from .dockerfile import BUILDER_PREFIX
from .sources import IMAGE_COMPONENTS

LABEL_PREFIX = "org.orthanc-images"
OCI = "org.opencontainers.image"
#: Where an image goes: loaded into the local engine, pushed, or only into the build cache (a stage).
OUTPUTS = ("load", "push", "cacheonly")


@dataclass(frozen=True)
class BenchMark:
    """Which bench run, part and repetition a build belongs to (the record's ``bench`` field)."""

    id: str
    part: str
    run: int
    label: str


@dataclass(frozen=True)
class BuildRequest:
    """What the command line (or the bench) asks of ``build``; None and empty: versions.toml's default."""

    set_name: str | None = None
    platforms: tuple[str, ...] = ()
    images: tuple[str, ...] = ()
    default_image: bool = False
    together: bool = False
    max_parallel: int | None = None
    memory_budget: str | None = None
    jobs: int | None = None
    stages: tuple[str, ...] = ()
    static: bool = False
    toolchain: str | None = None  # one of config.TOOLCHAINS (None: settings.toolchain)
    without: tuple[str, ...] = ()
    no_cache_filter: tuple[str, ...] = ()
    emulate: bool = False
    push: bool = False
    no_cache: bool = False
    cache_registry: bool = False
    builder: str | None = None
    registry: str | None = None
    namespace: str | None = None
    base_registry: str | None = None
    dockerfile: Path = DEFAULT_DOCKERFILE
    context: Path | None = None
    results: Path | None = None
    source_order: tuple[str, ...] | None = None
    mirror: str | None = None
    sources_dir: Path = DEFAULT_SOURCES
    config: Path = DEFAULT_CONFIG
    dry_run: bool = False
    bench: BenchMark | None = None
    reproducible: bool = False  # an OCI archive with timestamps clamped, then loaded or pushed

    @property
    def scheduled(self) -> bool:
        """Built in jobs (stages a few at a time, then the image) rather than in one buildx call."""
        return self.max_parallel is not None or self.memory_budget is not None or bool(self.stages)

    def limits(self) -> schedule.Limits:
        budget = schedule.parse_size(self.memory_budget) if self.memory_budget is not None else None
        return schedule.Limits(self.max_parallel, budget, self.jobs)


def request_from(values: Mapping[str, Any]) -> BuildRequest:
    """A request from parsed options named like its fields (others are ignored); lists become tuples."""
    names = {f.name for f in fields(BuildRequest)}
    chosen = {key: tuple(value) if isinstance(value, list) else value
              for key, value in values.items() if key in names and value is not None}
    return BuildRequest(**chosen)


@dataclass(frozen=True)
class Target:
    """Where images are pushed: the registry and the namespace under it."""

    registry: str
    namespace: str


def target_of(cfg: Config, registry: str | None, namespace: str | None) -> Target:
    """The command line's registry and namespace, else versions.toml's."""
    return Target(cfg.settings.registry if registry is None else registry,
                  cfg.settings.namespace if namespace is None else namespace)


@dataclass(frozen=True)
class Facts:
    """What resolving needs from outside, gathered before it (so that ``resolve`` stays pure)."""

    host_platform: str
    cores: int
    created: str  # the images' creation time label
    revision: str = "unknown"
    source_url: str = ""
    docker_context: bool = False  # the builder is a docker context (its docker driver)
    jobs_file: Path = Path("<logs>/<build>.jobs")  # where the compile jobs per stage are written
    source_date_epoch: int | None = None  # the image's sources' date (``for_image`` takes it from source_dates)
    origins: tuple[tuple[str, str], ...] = ()  # (component, where its source came from: ``sources.origin``)
    source_dates: tuple[tuple[str, int], ...] = ()  # (component, its source's date: ``sources.source_date``)
    base_digest: str | None = None  # the digest the base image is taken at (the lock's, else the registry's)
    sbom_generator: str | None = None  # the SBOM generator image of pushed and reproducible builds


@dataclass(frozen=True)
class BuildSpec:
    """One buildx invocation, every value resolved."""

    set_name: str
    image: str
    arches: tuple[str, ...]  # platform names of versions.toml
    platforms: tuple[str, ...]  # their OCI platforms
    dockerfile: Path
    context: Path
    target: str
    build_args: dict[str, str]
    contexts: dict[str, str]  # named build contexts: pinned sources, web assets, left-out stages
    tags: tuple[str, ...]
    labels: dict[str, str]
    cache_from: tuple[str, ...]
    cache_to: str | None
    output: str  # one of OUTPUTS
    no_cache: bool
    no_cache_filter: tuple[str, ...]
    builder: str | None
    docker_context: str | None
    jobs_file: Path | None  # holds the compile jobs per stage, given as the build secret `jobs`
    compile_jobs: int | None
    limits: schedule.Limits
    jobs: schedule.Jobs | None  # the stages built as separate jobs; None: one buildx call
    compiler: str  # native, cross or emulated
    libraries: str  # system or static
    toolchain: str = DEFAULT_TOOLCHAIN  # the compilers: one of config.TOOLCHAINS
    without: tuple[str, ...] = ()
    only_stages: tuple[str, ...] = ()
    # Exported as an OCI archive with every timestamp clamped to SOURCE_DATE_EPOCH (BuildKit's
    # rewrite-timestamp) and a provenance attestation, then loaded or pushed from that archive.
    reproducible: bool = False
    # A pushed or reproducible image carries a provenance attestation and an SBOM made by this
    # generator image (BuildKit's --attest type=sbom); None: no SBOM.
    sbom_generator: str | None = None
    bench: BenchMark | None = field(default=None, compare=False)

    @property
    def build(self) -> Build:
        return Build(self.set_name, self.image, self.arches)

    @property
    def tag(self) -> str:
        return self.build.tag

    @property
    def label(self) -> str:
        return self.build.label

    @property
    def pushed(self) -> bool:
        return self.output == "push"

    def stage(self, stage: str, no_cache_filter: tuple[str, ...]) -> "BuildSpec":
        """The build of one stage into the cache alone: no tags, labels or cache export."""
        return replace(self, target=stage, tags=(), labels={}, cache_to=None, output="cacheonly", no_cache=False,
                       no_cache_filter=no_cache_filter, reproducible=False, sbom_generator=None)

    def as_json(self) -> dict:
        """The spec as JSON values (``plan --format json``)."""
        data = asdict(self)
        if self.jobs is not None:
            data["jobs"] = {"order": self.jobs.jobs,
                            "after": {job: sorted(waits) for job, waits in self.jobs.after.items()}}
        return json.loads(json.dumps(data, default=str))


def build_args(cfg: Config, set_name: str, base_registry: str, emulate: bool, static: bool,
               source_date_epoch: int | None = None, base_digest: str | None = None,
               toolchain: str = DEFAULT_TOOLCHAIN) -> dict[str, str]:
    release = cfg.release_set(set_name)
    base = cfg.base_image(release, base_registry)
    args = {
        # By digest when known: the build starts from that image whatever the tag says by then.
        "BASE_IMAGE": f"{base}@{base_digest}" if base_digest else base,
        "BUILDER": "emulated" if emulate else "cross",
        "TOOLCHAIN": toolchain,
    }
    if source_date_epoch is not None:
        # BuildKit dates the image config and its history from it, and clamps file times to it.
        args["SOURCE_DATE_EPOCH"] = str(source_date_epoch)
    if static:
        args["LIBRARIES"] = "static"
    for name in COMPONENTS:
        args[cfg.components[name].build_arg] = release.pins[name].branch
    return args


def labels(cfg: Config, build: Build, facts: Facts, without: tuple[str, ...], base_registry: str | None = None
           ) -> dict[str, str]:
    release = cfg.release_set(build.set_name)
    result = {
        f"{OCI}.title": build.image,
        f"{OCI}.version": build.set_name,
        f"{OCI}.revision": facts.revision,
        f"{OCI}.created": created(facts),
    }
    if facts.source_url:
        result[f"{OCI}.source"] = facts.source_url
    left_out = sorted(without) if build.image != "orthanc" else []
    origins = dict(facts.origins)
    for name in COMPONENTS:
        if name not in left_out:
            result[f"{LABEL_PREFIX}.{name}.version"] = release.pins[name].version
            if name in origins:
                result[f"{LABEL_PREFIX}.{name}.source"] = origins[name]
    result[f"{LABEL_PREFIX}.base"] = release.base
    if facts.base_digest:
        result[f"{OCI}.base.name"] = cfg.base_image(release, base_registry)
        result[f"{OCI}.base.digest"] = facts.base_digest
    if left_out:
        result[f"{LABEL_PREFIX}.without"] = ",".join(left_out)
    return result


def for_image(facts: Facts, image: str, without: tuple[str, ...]) -> Facts:
    """The facts of one image: the date and origins of the sources it is built from alone, so that an
    image gets the same SOURCE_DATE_EPOCH and labels whether or not the other image is built with it."""
    if not facts.source_dates:
        return facts
    mine = {name for name in IMAGE_COMPONENTS[image] if name not in without}
    dates = [date for name, date in facts.source_dates if name in mine]
    return replace(facts, source_date_epoch=max(dates) if dates else facts.source_date_epoch,
                   origins=tuple((name, origin) for name, origin in facts.origins if name in mine))


def created(facts: Facts) -> str:
    """The images' creation date: their sources' date when known (the same set gives the same label,
    whenever it is built), else the build's time."""
    if facts.source_date_epoch is None:
        return facts.created
    return datetime.fromtimestamp(facts.source_date_epoch, timezone.utc).isoformat(timespec="seconds")


def cache_ref(target: Target, build: Build, image: str | None = None) -> str:
    """Registry cache of one image of one set and platform(s): a later build of that set reuses its
    unchanged stages.  One reference per set, since each export (``mode=max``) replaces the whole
    reference: a build of another set must not push the stages of this one out."""
    return image_ref(target.registry, target.namespace, "build-cache",
                     f"{image or build.image}-{build.set_name}-{'-'.join(build.platforms)}")


def cache_sources(target: Target, build: Build) -> tuple[str, ...]:
    """Where a build looks for cached stages: its own reference first, then the other image's of
    the same set and platform(s), since both images share the builder and core stages."""
    return tuple(cache_ref(target, build, image) for image in (build.image, *[i for i in IMAGES if i != build.image]))


def left_out_contexts(contexts: Mapping[str, str]) -> tuple[str, ...]:
    """The plugins a build leaves out: the stages its named contexts replace."""
    return tuple(sorted(name.removeprefix(BUILDER_PREFIX) for name in contexts if name.startswith(BUILDER_PREFIX)))


def attested(request: BuildRequest) -> bool:
    """Whether the request's images carry an SBOM and provenance: those pushed or reproducible."""
    return (request.push or request.reproducible) and not request.stages


def builds_of(cfg: Config, request: BuildRequest, host_platform: str) -> list[Build]:
    """The set's images and platforms the request names (default: the host's platform, both images)."""
    platforms = list(request.platforms) or (None if request.together else [host_platform])
    images = list(request.images) or ([cfg.settings.default_image] if request.default_image else None)
    return expand(cfg, request.set_name or cfg.settings.default_set, platforms, images, request.together)


def resolve(cfg: Config, request: BuildRequest, facts: Facts, contexts: Mapping[str, str],
            dockerfile_text: str) -> list[BuildSpec]:
    """Every build the request asks for, resolved (pure)."""
    target = target_of(cfg, request.registry, request.namespace)
    limits = request.limits()
    compile_jobs = limits.compile_jobs(facts.cores)
    base_registry = cfg.settings.base_registry if request.base_registry is None else request.base_registry
    without = tuple(sorted(request.without))
    toolchain = request.toolchain or cfg.settings.toolchain
    left_out = [f"{BUILDER_PREFIX}{name}" for name in without]
    specs = []
    for build in builds_of(cfg, request, facts.host_platform):
        compiler = ("native" if all(p == facts.host_platform for p in build.platforms)
                    else "emulated" if request.emulate else "cross")
        spec_without = without if build.image != "orthanc" else ()
        image_facts = for_image(facts, build.image, spec_without)
        if request.reproducible and image_facts.source_date_epoch is None:
            # no source to date it: the epoch, the same every time
            image_facts = replace(image_facts, source_date_epoch=0)
        specs.append(BuildSpec(
            set_name=build.set_name,
            image=build.image,
            arches=build.platforms,
            platforms=tuple(cfg.platforms[p] for p in build.platforms),
            dockerfile=request.dockerfile.resolve(),
            context=(request.context or request.dockerfile.resolve().parent).resolve(),
            target=build.image,
            build_args=build_args(cfg, build.set_name, base_registry, request.emulate, request.static,
                                  image_facts.source_date_epoch, facts.base_digest, toolchain),
            contexts=dict(sorted(contexts.items())),
            tags=(image_ref(target.registry, target.namespace, build.image, build.tag),),
            labels=labels(cfg, build, image_facts, left_out_contexts(contexts), base_registry),
            cache_from=cache_sources(target, build) if request.cache_registry else (),
            cache_to=f"type=registry,ref={cache_ref(target, build)},mode=max" if request.cache_registry else None,
            output="push" if request.push else "load",
            no_cache=request.no_cache,
            no_cache_filter=tuple(request.no_cache_filter),
            builder=None if facts.docker_context else request.builder,
            docker_context=request.builder if facts.docker_context else None,
            jobs_file=facts.jobs_file if compile_jobs is not None else None,
            compile_jobs=compile_jobs,
            limits=limits,
            jobs=schedule.jobs_for(dockerfile_text, build.image, list(request.stages), left_out)
            if request.scheduled else None,
            compiler=compiler,
            libraries="static" if request.static else "system",
            toolchain=toolchain,
            without=spec_without,
            only_stages=tuple(request.stages),
            bench=request.bench,
            reproducible=request.reproducible and not request.stages,
            sbom_generator=facts.sbom_generator if attested(request) else None,
        ))
    return specs


#: ``--sequential``, and the -sequential sessions: the small-board mode, one stage at a time and one
#: compiler at a time; plain sugar for these limits.
SEQUENTIAL = {"max_parallel": 1, "jobs": 1}
