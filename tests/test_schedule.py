"""The scheduler's plan, limits and job runner (pure logic; real builds are in tests/integration)."""

import threading
import time
from pathlib import Path

import pytest

from tools.planning import schedule

ROOT = Path(__file__).resolve().parent.parent
REAL = (ROOT / "dockerfiles" / "Dockerfile").read_text()
FIXTURE = (ROOT / "tests" / "fixture" / "Dockerfile").read_text()
PLUGINS = ["build-postgresql", "build-mysql", "build-dicomweb", "build-gdcm", "build-webviewer", "build-wsi"]


def test_plan_of_the_plugins_image():
    plan = schedule.jobs_for(REAL, "orthanc-plugins")
    assert plan.jobs == ["builder", "plugin-base", "build-orthanc", *PLUGINS, "orthanc-plugins"]
    assert plan.after["build-orthanc"] == {"builder"}
    # The plugins link the framework the core's stage compiles: they wait for it.
    assert plan.after["build-gdcm"] == {"builder", "plugin-base", "build-orthanc"}
    assert plan.after["orthanc-plugins"] == set(plan.jobs) - {"orthanc-plugins"}
    # Each stage is built first by exactly one job: --no-cache applies there only.
    owned = [stage for job in plan.jobs for stage in plan.owns[job]]
    assert len(owned) == len(set(owned))
    assert plan.owns["plugin-base"] == {"framework", "plugin-base"}
    assert plan.owns["build-gdcm"] == {"build-gdcm"}


def test_plan_of_the_core_image_and_the_fixture():
    assert schedule.jobs_for(REAL, "orthanc").jobs == ["build-orthanc", "orthanc"]
    plan = schedule.jobs_for(FIXTURE, "orthanc-plugins")
    assert plan.jobs == ["builder", "build-orthanc", *PLUGINS, "orthanc-plugins"]


def test_plan_of_some_stages_only():
    plan = schedule.jobs_for(REAL, "orthanc-plugins", ["build-gdcm", "build-mysql"])
    assert plan.final is None
    # The core's stage is needed (the framework library) and comes first; plugin-base, which needs the
    # builder that job builds, waits for it rather than building the builder a second time.
    assert plan.jobs == ["build-orthanc", "plugin-base", "build-mysql", "build-gdcm"]
    assert plan.after["plugin-base"] == {"build-orthanc"}
    owned = [stage for job in plan.jobs for stage in plan.owns[job]]
    assert len(owned) == len(set(owned))
    with pytest.raises(schedule.ScheduleError, match="'build-gdcm' is not a stage of orthanc"):
        schedule.jobs_for(REAL, "orthanc", ["build-gdcm"])
    with pytest.raises(schedule.ScheduleError, match="no stage 'nope'"):
        schedule.jobs_for(REAL, "nope")


@pytest.mark.parametrize("text,expected", [
    ("3GiB", 3 * 2**30), ("512M", 512 * 2**20), ("2.5G", int(2.5 * 2**30)), ("1024", 1024), ("1kib", 1024)])
def test_parse_size(text, expected):
    assert schedule.parse_size(text) == expected


@pytest.mark.parametrize("text", ["", "lots", "-1G", "0", "3 GB extra"])
def test_parse_size_rejects(text):
    with pytest.raises(schedule.ScheduleError, match="--memory-budget"):
        schedule.parse_size(text)


def test_limits_admit():
    gib = 2**30
    assert schedule.Limits().admits([gib] * 10, gib)
    assert not schedule.Limits(max_parallel=2).admits([gib, gib], gib)
    assert schedule.Limits(max_parallel=2).admits([gib], gib)
    assert schedule.Limits(memory_budget=3 * gib).admits([2 * gib], gib)
    assert not schedule.Limits(memory_budget=3 * gib).admits([2 * gib], 2 * gib)
    assert schedule.Limits(memory_budget=gib).admits([], 5 * gib)  # alone, even over budget


def _run(limits, jobs, after, estimate=lambda _: 2**30, fail=()):
    lock = threading.Lock()
    state = {"now": 0, "peak": 0, "order": []}

    def job(name):
        with lock:
            state["now"] += 1
            state["peak"] = max(state["peak"], state["now"])
            state["order"].append(name)
        time.sleep(0.05)
        with lock:
            state["now"] -= 1
        return name not in fail

    outcome = schedule.run_jobs(jobs, after, limits, estimate, job)
    return outcome, state


def test_run_jobs_respects_the_count():
    jobs = [f"j{i}" for i in range(6)]
    outcome, state = _run(schedule.Limits(max_parallel=2), jobs, {})
    assert all(outcome.values()) and len(outcome) == 6
    assert state["peak"] == 2
    _, state = _run(schedule.Limits(max_parallel=1), jobs, {})
    assert state["peak"] == 1 and state["order"] == jobs
    _, state = _run(schedule.Limits(), jobs, {})
    assert state["peak"] == 6


def test_run_jobs_respects_the_memory_budget():
    sizes = {"a": 2, "b": 2, "c": 1, "d": 1}
    _, state = _run(schedule.Limits(memory_budget=3), list(sizes), {}, estimate=sizes.get)
    assert state["peak"] == 2  # never a+b together; c or d beside one of them


def test_run_jobs_waits_for_dependencies_and_stops_after_a_failure():
    after = {"b": frozenset({"a"}), "c": frozenset({"b"})}
    outcome, state = _run(schedule.Limits(), ["a", "b", "c"], after)
    assert state["order"] == ["a", "b", "c"] and state["peak"] == 1
    outcome, state = _run(schedule.Limits(), ["a", "b", "c"], after, fail={"a"})
    assert outcome == {"a": False}


def test_overlap_and_concurrency():
    spans = {"a": (0, 10), "b": (5, 15), "c": (20, 30)}
    assert schedule.overlapped(spans) == {"a": True, "b": True, "c": False}
    assert schedule.max_concurrency(list(spans.values())) == 2
    assert schedule.max_concurrency([(0, 1), (1, 2)]) == 1


def test_estimates_come_from_solo_runs_of_the_same_platform_and_compiler():
    def rec(end, platform, jobs):
        return {"end": end, "platforms": [platform], "compiler": "native", "jobs": jobs}
    job = lambda t, mem, **kw: {"target": t, "status": "ok", "overlapped": False, "cached": False,  # noqa: E731
                                "memory_build_peak_bytes": mem, **kw}
    records = [rec("1", "amd64", [job("build-gdcm", 100)]),
               rec("2", "amd64", [job("build-gdcm", 200), job("build-mysql", 999, overlapped=True)]),
               rec("3", "armv7", [job("build-gdcm", 5)])]
    assert schedule.estimates_from(records, "amd64", "native") == {"build-gdcm": 200}


def test_compile_jobs_share_the_processors_among_the_stages_allowed_at_once():
    assert schedule.Limits().compile_jobs(8) is None  # every stage takes every processor
    assert schedule.Limits(max_parallel=2).compile_jobs(8) == 4
    assert schedule.Limits(max_parallel=4).compile_jobs(2) == 1
    assert schedule.Limits(max_parallel=1, jobs=1).compile_jobs(8) == 1  # the -sequential sessions
    assert schedule.Limits(jobs=3).compile_jobs(2) == 3
