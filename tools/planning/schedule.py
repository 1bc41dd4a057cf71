"""Bounded parallelism: compile an image's component stages a few at a time, then assemble.

One buildx call for a whole image lets BuildKit start every builder stage at
once, which is fastest but needs the most memory.  Instead the scheduler builds
the stages in jobs, each a buildx call for one target that only fills the
cache (``--output type=cacheonly``):

1. the shared stages that several components start from (the toolchain, the
   framework's headers), once;
2. the component stages (``build-<component>``), at most ``max_parallel`` at a
   time and, with a memory budget, only as many as fit in it, each once the
   components it takes files from are built (the plugins wait for the core);
3. the final target, assembled from the cache.

Every job is a build of the same Dockerfile with the same arguments, so the
cache is the one a single call would use: bumping one component rebuilds that
component's stage and the final assembly, nothing else.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, replace
from typing import Callable

from ..errors import FatalError
from .dockerfile import BUILDER_PREFIX, ancestors, dependencies, stages

#: Memory a compile job is assumed to need when no solo run of it was recorded.
DEFAULT_JOB_MEMORY = 2 * 2**30
SIZE_RE = re.compile(r"^ *(\d+(?:\.\d+)?) *([KMGT]i?B?|B)? *$", re.I)
UNITS = {"": 1, "B": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}


class ScheduleError(FatalError):
    """A scheduling option that cannot be honoured, in one line."""


def parse_size(text: str) -> int:
    """'3GiB', '512M', '2.5G', '1073741824' -> bytes."""
    match = SIZE_RE.fullmatch(text)
    if not match:
        raise ScheduleError(f"--memory-budget: '{text}' is not a size (e.g. 3GiB, 512MiB)")
    unit = (match.group(2) or "").upper().rstrip("B").rstrip("I")
    value = int(float(match.group(1)) * UNITS[unit])
    if value <= 0:
        raise ScheduleError(f"--memory-budget: '{text}' must be more than zero")
    return value


@dataclass(frozen=True)
class Limits:
    max_parallel: int | None = None
    memory_budget: int | None = None
    jobs: int | None = None  # parallel compile jobs within one stage (make -j); None: the tools choose

    def compile_jobs(self, cpus: int) -> int | None:
        """Compile jobs per stage: as given, else the processors shared among the stages allowed at
        once, else None (each stage takes every processor)."""
        if self.jobs is not None:
            return self.jobs
        if self.max_parallel is not None:
            return max(1, cpus // self.max_parallel)
        return None

    @property
    def bounded(self) -> bool:
        return self.max_parallel is not None or self.memory_budget is not None

    def admits(self, running: list[int], candidate: int) -> bool:
        """Whether a job needing ``candidate`` bytes may start beside jobs needing ``running``.

        A job always starts when nothing else runs, even if it alone exceeds the budget.
        """
        if not running:
            return True
        if self.max_parallel is not None and len(running) >= self.max_parallel:
            return False
        if self.memory_budget is not None and sum(running) + candidate > self.memory_budget:
            return False
        return True


@dataclass(frozen=True)
class Jobs:
    """The jobs for one final target, in order, and which jobs each must wait for."""

    shared: tuple[str, ...]
    components: tuple[str, ...]
    final: str | None  # None: the stages only, into the cache
    after: dict[str, frozenset[str]]
    owns: dict[str, frozenset[str]]  # the stages each job builds first (the others reach it cached)

    @property
    def jobs(self) -> list[str]:
        return [*self.shared, *self.components, *([self.final] if self.final else [])]


def jobs_for(text: str, target: str, only: list[str] | None = None, without: list[str] | None = None) -> Jobs:
    """Which stages to build as separate jobs for ``target`` (pure: from the Dockerfile's text).

    Shared stages are those two or more components start from; the last shared stage
    before each component is a job (it builds the shared stages before it).  A component waits for the shared
    jobs and the components it needs; the final target waits for everything.  With ``only``, just
    those stages of the target (and what they start from) are built, and no image.
    Stages ``without`` are not built (the build replaces them with named contexts).
    """
    deps = dependencies(text)
    if target not in deps:
        raise ScheduleError(f"Dockerfile has no stage '{target}'")
    order = [stage.name for stage in stages(text)[1]]
    needed = ancestors(deps, target)
    for name in only or []:
        if name not in needed:
            raise ScheduleError(f"--stage: '{name}' is not a stage of {target} "
                                f"(its stages: {', '.join(n for n in order if n in needed)})")
    components = [name for name in order if name in (only or needed) and name not in (without or ())
                  and (only or name.startswith(BUILDER_PREFIX))]
    above = {name: ancestors(deps, name) for name in order}
    counts: dict[str, int] = {}
    for component in components:
        for name in above[component]:
            counts[name] = counts.get(name, 0) + 1
    shared = {name for name, count in counts.items() if count >= 2 and name not in components}
    # A shared job is the last shared stage before some component: it builds those before it.
    jobs_shared = set()
    for component in components:
        mine = shared & above[component]
        jobs_shared |= {name for name in mine if not any(name in above[other] for other in mine)}
    frontier = [name for name in order if name in jobs_shared]
    # A component waits for the shared jobs it starts from, and for the components it takes files
    # from (the plugins link the framework that the core's stage compiles).
    after = {name: frozenset(other for other in [*frontier, *components] if other in above[name])
             for name in [*frontier, *components]}
    if not only:
        after[target] = frozenset([*frontier, *components])
    # Each stage is built first by one job (the first in order that needs it); a job that needs a
    # stage an earlier job builds, and does not wait for it yet, waits for that job.
    owns: dict[str, frozenset[str]] = {}
    for job in list(after):
        earlier = set().union(*[above[w] | {w} for w in after[job]])
        needs = (above[job] | {job}) - earlier
        built_by = {other for other, stages_ in owns.items() if stages_ & needs}
        after[job] = frozenset(after[job] | built_by)
        owns[job] = frozenset(needs - set().union(*owns.values()))
    return Jobs(tuple(frontier), tuple(components), None if only else target, after, owns)


def split(spec) -> dict:
    """A build spec (``planning.spec.BuildSpec``) as one spec per job, in order.

    ``--no-cache`` and ``--no-cache-filter`` concern the job that builds a stage first; the jobs
    after it must find that stage in the cache, not build it again.
    """
    graph = spec.jobs
    result = {}
    for job in graph.jobs:
        wanted = graph.owns[job] if spec.no_cache else graph.owns[job] & set(spec.no_cache_filter)
        narrowed = tuple(sorted(wanted))
        result[job] = (replace(spec, no_cache=False, no_cache_filter=narrowed) if job == graph.final
                       else spec.stage(job, narrowed))
    return result


def describe(jobs: Jobs, limits: Limits) -> str:
    """The jobs in their phases and the limits, in one line."""
    phases = [", ".join(phase) for phase in (jobs.shared, jobs.components) if phase]
    budget = f", memory budget {limits.memory_budget / 2**30:.1f} GiB" if limits.memory_budget else ""
    return (f"jobs: {' -> '.join([*phases, *([jobs.final] if jobs.final else [])])}; "
            f"at most {limits.max_parallel or 'any number'} at once{budget}")


def run_jobs(
    jobs: list[str],
    after: dict[str, frozenset[str]],
    limits: Limits,
    estimate: Callable[[str], int],
    run_job: Callable[[str], bool],
) -> dict[str, bool]:
    """Run jobs within the limits, each once the jobs it waits for succeeded.

    The first ready job in order starts when the limits admit it.  Once a job fails
    no other starts; the running ones finish.  Returns each started job's success.
    """
    pending = list(jobs)
    running: dict[str, int] = {}
    outcome: dict[str, bool] = {}
    lock = threading.Condition()

    def worker(name: str) -> None:
        ok = False
        try:
            ok = run_job(name)
        finally:
            with lock:
                outcome[name] = ok
                del running[name]
                lock.notify_all()

    threads = []
    with lock:
        while True:
            failed = not all(outcome.values())
            ready = [n for n in pending if all(outcome.get(dep) for dep in after.get(n, ()))]
            if ready and not failed and limits.admits(list(running.values()), estimate(ready[0])):
                name = ready[0]
                pending.remove(name)
                running[name] = estimate(name)
                thread = threading.Thread(target=worker, args=(name,), daemon=True)
                threads.append(thread)
                thread.start()
                continue
            if not running:
                break
            lock.wait()
    for thread in threads:
        thread.join()
    return outcome


def overlapped(intervals: dict[str, tuple[float, float]]) -> dict[str, bool]:
    """For each job, whether another job ran during part of it."""
    return {name: any(other != name and s < e2 and s2 < e
                      for other, (s2, e2) in intervals.items())
            for name, (s, e) in intervals.items()}


def max_concurrency(intervals: list[tuple[float, float]]) -> int:
    """The largest number of intervals open at one instant."""
    events = sorted([(s, 1) for s, _ in intervals] + [(e, -1) for _, e in intervals],
                    key=lambda ev: (ev[0], ev[1]))
    best = current = 0
    for _, delta in events:
        current += delta
        best = max(best, current)
    return best


def estimates_from(records: list[dict], platform: str, compiler: str) -> dict[str, int]:
    """Memory each job needed when it last ran alone for this platform and compiler."""
    found: dict[str, int] = {}
    for record in sorted(records, key=lambda r: r["end"]):
        if record.get("platforms") != [platform] or record.get("compiler") != compiler:
            continue
        for job in record.get("jobs", []):
            if job.get("status") == "ok" and not job.get("overlapped") and not job.get("cached"):
                found[job["target"]] = job["memory_build_peak_bytes"]
    return found

