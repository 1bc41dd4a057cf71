"""``bench``: the performance figures, each an ordinary build (``commands.build``) recorded with its
bench run, part and repetition; then the table (``report --view bench`` shows it again)."""

from __future__ import annotations

import sys
from dataclasses import dataclass, replace
from pathlib import Path

from ..configuration import config, matrix
from ..errors import FatalError, UsageError, tell
from ..paths import DEFAULT_CONFIG, DEFAULT_DOCKERFILE, DEFAULT_SOURCES
from ..planning import dockerfile, schedule, sources
from ..planning.spec import BenchMark, BuildRequest
from ..reporting import bench_table, report
from ..running import bench, results
from . import build
from .checks import check_memory_budget, check_platform, check_results_file, check_set_name


@dataclass(frozen=True)
class BenchRequest:
    set_name: str | None = None
    images: tuple[str, ...] = ()  # default: settings.default_image; the cold part builds each, the others the last
    platforms: tuple[str, ...] = ()  # built natively or cross-compiled (default: the set's)
    emulate: tuple[str, ...] | None = None  # foreign platforms built emulated (default: every one)
    parts: tuple[str, ...] = bench.PARTS
    runs: int = 3
    bump: str | None = None  # default: the image's last component
    memory_stages: tuple[str, ...] = ()  # default: the image's component stages
    memory_budget: str = "3GiB"
    results: Path | None = None
    config: Path = DEFAULT_CONFIG
    sources_dir: Path = DEFAULT_SOURCES
    dry_run: bool = False
    toolchain: str | None = None  # default: settings.toolchain


def run(request: BenchRequest) -> int:
    cfg = config.load(request.config)
    check_set_name(request.set_name)
    check_memory_budget(request.memory_budget)
    if request.results is not None:
        check_results_file(request.results, "--results")
    release = cfg.release_set(request.set_name or cfg.settings.default_set)
    images = request.images or (cfg.settings.default_image,)
    image = images[-1]  # what the nochange, bump and memory parts measure
    unknown = [p for p in request.parts if p not in bench.PARTS]
    if unknown:
        raise UsageError(f"--parts: unknown part '{unknown[0]}' (known: {', '.join(bench.PARTS)})")
    platforms = list(request.platforms) or list(release.platforms)
    here = matrix.host_platform()
    emulate = [p for p in release.platforms if p != here] if request.emulate is None else \
        [p for p in request.emulate if p != "none"]
    for name in [*platforms, *emulate]:
        check_platform(release, name)
    text = DEFAULT_DOCKERFILE.read_text()
    jobs = schedule.jobs_for(text, image)
    components = [stage.removeprefix(dockerfile.BUILDER_PREFIX) for stage in jobs.components]
    bump = request.bump or components[-1]
    if bump not in components:
        raise UsageError(f"--bump: {image} has no component '{bump}' (it has: {', '.join(components)})")
    memory_stages = list(request.memory_stages) or list(jobs.components)
    if "memory" in request.parts and len(memory_stages) < 2:
        raise UsageError(f"--memory-stage: the memory part needs two stages or more ({image} has "
                         f"{', '.join(memory_stages)}); name them, e.g. --memory-stage build-gdcm")
    if "memory" in request.parts:
        schedule.jobs_for(text, "orthanc-plugins", memory_stages)  # names checked
    schedule.parse_size(request.memory_budget)
    sources_dir = request.sources_dir.resolve()  # every build of the bench reads its sources there
    steps = bench.steps(release.name, image, platforms, here, parts=request.parts, runs=request.runs,
                        emulate=emulate, bump=bump, memory_stages=memory_stages,
                        memory_budget=request.memory_budget, compile_stages=tuple(dockerfile.compile_stages(text)),
                        sources_dir=sources_dir, toolchain=request.toolchain or cfg.settings.toolchain,
                        cold_images=images)
    run_id = bench.bench_id()
    results_file = request.results or cfg.root / cfg.settings.results
    print(f"bench {run_id}: {len(steps)} builds of {', '.join(f'{name}:{release.name}' for name in images)}, "
          f"recorded in {results_file}")
    for step in steps:
        print(f"  {step.part:8} run {step.run}  {step.label:24} build {bench.summary(step.build)}"
              + ("  (compiler cache emptied)" if step.cold and not step.ccache else "")
              + (f"  (compiler cache of {', '.join(step.ccache)} emptied)" if step.ccache else "")
              + (f"  (one file of {step.bump} changed)" if step.bump else ""))
    if request.dry_run:
        return 0

    def measure(step: bench.Step, what: BuildRequest) -> int:
        print(f"==> bench {step.part} run {step.run}: {step.label}", flush=True)
        try:
            return build.run(replace(what, config=request.config, results=results_file,
                                     bench=BenchMark(run_id, step.part, step.run, step.label)))
        except (FatalError, OSError) as exc:  # this build cannot be made; the next ones may (Ctrl-C ends the bench)
            return tell(exc)

    pinned = {p.component.name: p for p in sources.pinned_sources(cfg, release, [image])}
    outcomes = bench.execute(steps, measure, sources_dir=sources_dir,
                             source_key=lambda name: _local_key(sources_dir, pinned[name]))
    records = [r for r in results.read(results_file)[0] if r.bench and r.bench.id == run_id]
    headers, rows = bench_table.summarise(records)
    print(report.render(headers, rows, "plain"))
    failed = [step for step, code in outcomes if code != 0]
    if failed:
        print(f"error: bench: {len(failed)} of {len(steps)} builds failed (first: {failed[0].part} "
              f"{failed[0].label})", file=sys.stderr)
        return 1
    return 0


def _local_key(root: Path, item: sources.PinnedSource) -> str:
    tree = sources.local_tree(root, item)
    if tree is None:
        raise UsageError(f"bench: no fetched source of {item.component.name} under {root}; build once first")
    return tree.name
