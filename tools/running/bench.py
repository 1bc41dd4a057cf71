"""``nox -s bench``: the performance figures, measured side by side in one run.

Every measurement is an ordinary build (the same code path as the build
sessions), recorded in the results file with a ``bench`` field naming the run,
the part and the repetition, so ``report --view bench`` can render any run again.

Parts, in the order they run:

- ``cold``: build the image from scratch (no build cache, compiler cache
  emptied) natively and cross-compiled for each foreign platform: the
  arm / amd64 ratios; emulated builds of the same, where asked, run last;
- ``nochange``: rebuild the image for every platform of the set with nothing
  changed (repeated; median of the total);
- ``bump``: change one source file of one component (a patch-level bump: one
  new function appended, so the compiler really compiles it) and rebuild the
  image: only that component's stage and the assembly run, and ccache
  recompiles only the changed file (repeated; median). Run 0 rebuilds the
  unchanged image first and is not counted;
- ``memory``: compile the named stages again, in parallel as an ordinary build
  session does (all at once, each with every processor), sequentially as the
  ``-sequential`` sessions do (one stage at a time, one compile job:
  ``--max-parallel 1 --jobs 1``) and within a memory budget: time and peak memory.
  Only those stages' compiler caches are emptied, so their dependencies stay
  cached; run 0 of the parallel mode builds the dependencies and is not counted.

Bump and memory run on the host's platform, which the cold part builds last
(so its cache is warm: emptying the compiler cache also drops the cached
results of every step that used it); if the host's platform is not benched, on
the platform built last.

Image sizes come with every build record (``size_bytes``).
"""

from __future__ import annotations

import re
import shutil
import tempfile
import time
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from .. import docker
from ..configuration.config import DEFAULT_TOOLCHAIN
from ..planning.spec import BuildRequest

PARTS = ("cold", "nochange", "bump", "memory")


@dataclass(frozen=True)
class Step:
    """One measured build: the part, the repetition and what is built."""

    part: str
    run: int
    label: str
    build: BuildRequest
    cold: bool = False  # empty the whole compiler cache first
    ccache: tuple[str, ...] = ()  # else empty just these cache mounts (ids) first
    bump: str | None = None  # component whose source gets a one-line change first


def summary(request: BuildRequest) -> str:
    """What a step builds, in a few words."""
    words = [f"{','.join(request.images)} {','.join(request.platforms)}"]
    words += [f"stage {stage}" for stage in request.stages]
    words += [word for word, on in (("no cache", request.no_cache), ("emulated", request.emulate)) if on]
    if request.toolchain not in (None, DEFAULT_TOOLCHAIN):
        words.append(f"compiled by {request.toolchain}")
    if request.no_cache_filter:
        words.append(f"rebuilding {','.join(request.no_cache_filter)}")
    if request.max_parallel is not None:
        words.append(f"max-parallel {request.max_parallel}")
    if request.jobs is not None:
        words.append(f"jobs {request.jobs}")
    if request.memory_budget is not None:
        words.append(f"memory budget {request.memory_budget}")
    return ", ".join(words)


def bench_id(now: datetime | None = None) -> str:
    return (now or datetime.now(timezone.utc)).strftime("%Y%m%dT%H%M%SZ")


def steps(
    set_name: str,
    image: str,
    platforms: list[str],
    host_platform: str,
    *,
    parts: tuple[str, ...] = PARTS,
    runs: int = 3,
    emulate: list[str] | None = None,
    bump: str = "orthanc",
    memory_stages: list[str] | None = None,
    memory_budget: str = "3GiB",
    compile_stages: tuple[str, ...] = (),
    sources_dir: Path | None = None,
    toolchain: str = DEFAULT_TOOLCHAIN,
    cold_images: tuple[str, ...] = (),
) -> list[Step]:
    """The bench as a list of builds (pure); every build reads its sources from ``sources_dir``
    (default: the builds' own default). The cold part builds each of ``cold_images`` (default: the
    image), ``image`` last; the other parts measure ``image``."""
    where = {"sources_dir": sources_dir} if sources_dir is not None else {}
    where["toolchain"] = toolchain
    cold = [name for name in cold_images if name != image] + [image]

    def on(arch: str, of: str = image, **options) -> BuildRequest:
        return BuildRequest(set_name=set_name, images=(of,), platforms=(arch,), **where, **options)

    def named(of: str, label: str) -> str:  # several images: each cold row says which
        return f"{of} {label}" if len(cold) > 1 else label

    result: list[Step] = []
    if "cold" in parts:
        # The native build last, so the bump and memory parts find the host's cache warm.
        for of in cold:
            for arch in sorted(platforms, key=lambda p: p == host_platform):
                how = "native" if arch == host_platform else "cross"
                result.append(Step("cold", 1, named(of, f"{arch} {how}"), on(arch, of, no_cache=True), cold=True,
                                   ccache=_mounts(compile_stages, arch)))
    if "nochange" in parts:
        # Run 0 makes sure everything is built once; it is recorded but not counted.
        for run in range(0, runs + 1):
            for arch in platforms:
                result.append(Step("nochange", run, arch, on(arch)))
    warm = host_platform if "cold" not in parts or host_platform in platforms else platforms[-1]
    if "bump" in parts:
        for run in range(0, runs + 1):
            result.append(Step("bump", run, f"{bump} on {warm}", on(warm), bump=bump if run else None))
    if "memory" in parts and memory_stages:
        mounts = tuple(cache_mount_id(stage, warm) for stage in memory_stages)
        # Parallel as an ordinary build session is: every stage at once, each with every processor.
        modes = ((0, "parallel", {}),
                 (1, "parallel", {}),
                 (1, "sequential", {"max_parallel": 1, "jobs": 1}),
                 (1, f"budget {memory_budget}", {"memory_budget": memory_budget}))
        for run, label, limits in modes:
            # Stages of any component are stages of orthanc-plugins, the image that has them all.
            memory = BuildRequest(set_name=set_name, images=("orthanc-plugins",), platforms=(warm,), **where,
                                  stages=tuple(memory_stages), no_cache_filter=tuple(memory_stages), **limits)
            result.append(Step("memory", run, label, memory, ccache=mounts if run else ()))
    if "cold" in parts:
        # Emulated builds last: they take the longest by far.
        for of in cold:
            for arch in emulate or []:
                if arch != host_platform:
                    result.append(Step("cold", 1, named(of, f"{arch} emulated"),
                                       on(arch, of, no_cache=True, emulate=True),
                                       cold=True, ccache=_mounts(compile_stages, arch)))
    return result


def _mounts(stages: tuple[str, ...], arch: str) -> tuple[str, ...]:
    """A cold build empties the compiler caches of its own platform only (all of them when the
    stages are not known): the other platforms' compiled stages stay cached."""
    return tuple(cache_mount_id(stage, arch) for stage in stages)


def cache_mount_id(stage: str, arch: str) -> str:
    """The id of a stage's compiler cache mount, as the Dockerfile names it (``ccache-<component>-<arch>``)."""
    return f"ccache-{stage.removeprefix('build-')}-{arch}"


def mounts_named(du_verbose: str, ids: tuple[str, ...]) -> list[str]:
    """BuildKit record ids of the cache mounts with these ids, from ``docker buildx du --verbose`` (pure)."""
    found, record = [], None
    for line in du_verbose.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "ID":
            record = value.strip()
        elif key.strip() == "Description" and record:
            mount = re.search(r'with id "/?([^"]+)"', value)
            if mount and mount.group(1) in ids:
                found.append(record)
    return found


def empty_compiler_cache(ids: tuple[str, ...] = ()) -> None:
    """Drop BuildKit's cache mounts (ccache): all of them, or those with these ids.

    Dropping a mount also drops the cached results of the steps that used it.
    """
    if not ids:
        docker.prune_cache()
        return
    for record in mounts_named(docker.cache_mounts(), ids):
        docker.prune_cache(record)


def bumped_sources(sources_dir: Path, component: str, key: str, run: int) -> Path:
    """A sources folder whose ``component`` tree differs from the pinned one by one new function.

    The function is real code (a comment would not do: ccache hashes the
    preprocessed source, from which comments are gone).

    The other components are symbolic links to the pinned trees; the bumped tree is a copy.
    """
    root = Path(tempfile.mkdtemp(prefix="bench-sources-"))
    for item in sources_dir.iterdir():
        if item.is_dir() and not item.name.startswith("."):
            (root / item.name).mkdir()
            for tree in item.iterdir():
                if item.name == component and tree.name == key:
                    shutil.copytree(tree, root / item.name / tree.name, symlinks=True)
                else:
                    (root / item.name / tree.name).symlink_to(tree.resolve())
    target = first_source_file(root / component / key)
    with open(target, "a") as handle:
        handle.write(f"\nint OrthancImagesBenchChange{run}_{time.time_ns()}() {{ return {run}; }}\n")
    return root


SKIPPED = ("ThirdParty", "Resources", "Samples", "UnitTestsSources", "OrthancFramework")


def first_source_file(tree: Path) -> Path:
    """The first C++ file of the component's own code: not a dependency, sample or test,
    not the framework (another stage), not quilt's copies under ``.pc``."""
    for path in sorted(tree.rglob("*.cpp")):
        inner = path.relative_to(tree).parts
        if not any(part.startswith(".") or part in SKIPPED for part in inner):
            return path
    raise FileNotFoundError(f"{tree}: no C++ source to change")


def execute(
    steps: list[Step],
    build: Callable[[Step, BuildRequest], int],
    *,
    sources_dir: Path,
    source_key: Callable[[str], str],
) -> list[tuple[Step, int]]:
    """Run each step's build through ``build`` (which records it); returns the exit codes.

    A bumped step builds from a scratch copy of the sources with the one change."""
    outcomes = []
    for step in steps:
        request = step.build
        scratch = None
        if step.cold or step.ccache:
            empty_compiler_cache(step.ccache)
        if step.bump:
            scratch = bumped_sources(sources_dir, step.bump, source_key(step.bump), step.run)
            request = replace(request, sources_dir=scratch, source_order=("local",))
        try:
            outcomes.append((step, build(step, request)))
        finally:
            if scratch:
                shutil.rmtree(scratch, ignore_errors=True)
    return outcomes
