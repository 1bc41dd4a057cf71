"""Run one ``docker buildx build`` with live progress and record its result."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, TextIO

from .. import docker
from . import results
from ..planning import schedule
from .sampling import Sampler, is_oom
from .progress import JsonStream, Tracker, describe


# Known intermittent failures, each with what to say before the one retry. Everything is cached by
# the time either can happen, so one more try costs seconds.
TRANSIENT_ERRORS: tuple[tuple[re.Pattern, str], ...] = (
    # The containerd image store, unpacking the exported image.
    (re.compile(r"failed to prepare extraction snapshot"), "image export hit a transient snapshot error"),
    # A registry's server-side error while pushing. Docker 26 with the containerd image store pushes
    # each platform's manifest to the tag before the index, in parallel; a filesystem-backed
    # registry can then read the tag half-written and answer 500.
    (re.compile(r"\b(?:500 Internal Server Error|502 Bad Gateway|503 Service Unavailable|504 Gateway Timeout)\b"),
     "the registry answered a push with a server error"),
)


def transient(record: dict) -> str | None:
    """Why a failed build is worth one retry (a known intermittent failure), or None."""
    if record["status"] != "failed":
        return None
    for pattern, reason in TRANSIENT_ERRORS:
        if any(pattern.search(error) for error in record.get("errors", [])):
            return reason
    return None


def iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, timezone.utc).isoformat(timespec="seconds")


def _metadata(metadata_file: Path) -> dict:
    try:
        data = json.loads(metadata_file.read_text())
    except (OSError, json.JSONDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def digest_from(metadata_file: Path) -> str | None:
    return _metadata(metadata_file).get("containerimage.digest")


def metadata_facts(metadata_file: Path) -> dict:
    """What buildx's metadata file says of a finished build besides its digest: the image config's
    digest and the build's reference (``buildx history``)."""
    data = _metadata(metadata_file)
    return {key: data[field] for key, field in (("config_digest", "containerimage.config.digest"),
                                                ("build_ref", "buildx.build.ref")) if data.get(field)}


def stream_build(cmd: list[str], raw_log: Path, emit: Callable[[str], None],
                 started: Callable[[subprocess.Popen], None] | None = None) -> tuple[int, Tracker, bool]:
    """Run buildx, decode its rawjson progress live, keep the raw stream.

    ``started`` is told the process (so a scheduler can stop it).
    Returns (exit code, tracker, interrupted).
    """
    tracker = Tracker()
    stream = JsonStream()
    raw_log.parent.mkdir(parents=True, exist_ok=True)
    interrupted = False
    with open(raw_log, "wb") as log:
        proc = docker.stream(cmd)
        assert proc.stderr is not None
        if started:
            started(proc)
        try:
            while True:
                chunk = os.read(proc.stderr.fileno(), 65536)
                if not chunk:
                    break
                log.write(chunk)
                for obj in stream.feed(chunk.decode("utf-8", "replace")):
                    for kind, item in tracker.update(obj):
                        line = describe(kind, item)
                        if line:
                            emit(line)
        except KeyboardInterrupt:
            interrupted = True
            os.killpg(proc.pid, signal.SIGINT)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        code = proc.wait()
        leftover = stream.rest()
        if leftover:
            emit(leftover)
    return code, tracker, interrupted


def _status(code: int, tracker: Tracker, interrupted: bool) -> str:
    if interrupted:
        return "interrupted"
    if code == 0:
        return "ok"
    return "OOM" if is_oom(tracker.errors()) else "failed"


def _complete(record: dict, results_file: Path, finish: Callable[[dict], dict] | None,
              interrupted: bool) -> dict:
    """Add what ``finish`` measures of a successful build, append the record, return it."""
    if finish and record["status"] == "ok":
        record = finish(record)  # facts about what was built, e.g. its size
    results.append(results_file, record)
    if interrupted:
        raise KeyboardInterrupt
    return record


def run(
    cmd: list[str],
    *,
    record: dict,
    results_file: Path,
    metadata_file: Path,
    raw_log: Path,
    out: TextIO = sys.stdout,
    finish: Callable[[dict], dict] | None = None,
) -> dict:
    """Run the build; append the completed record to the results file; return it."""

    def emit(line: str) -> None:
        print(line, file=out, flush=True)

    metadata_file.unlink(missing_ok=True)
    sampler = Sampler().start()
    start = time.time()
    code, tracker, interrupted = stream_build(cmd, raw_log, emit)
    end = time.time()
    record = {
        **record,
        **sampler.stop(),
        "start": iso(start),
        "end": iso(end),
        "wall_seconds": round(end - start, 3),
        "status": _status(code, tracker, interrupted),
        "exit_code": code,
        "digest": digest_from(metadata_file) if code == 0 else None,
        **(metadata_facts(metadata_file) if code == 0 else {}),
        "stages": [stage.as_dict() for stage in tracker.stages()],
        "ccache": tracker.ccache,
        "errors": tracker.errors(),
        "log": str(raw_log),
    }
    return _complete(record, results_file, finish, interrupted)


def merge_stages(trackers: list[Tracker]) -> list[dict]:
    """Stage times over several builds of one Dockerfile: where a stage ran, not where it was cached."""
    chosen: dict[str, dict] = {}
    for tracker in trackers:
        for stage in tracker.stages():
            current = chosen.get(stage.name)
            if current is None or (current["cached"] and not stage.cached):
                chosen[stage.name] = stage.as_dict()
    return sorted(chosen.values(), key=lambda st: (st["started"], st["stage"]))


def run_scheduled(
    commands: dict[str, list[str]],
    graph: schedule.Jobs,
    limits: schedule.Limits,
    estimate: Callable[[str], int],
    *,
    record: dict,
    results_file: Path,
    metadata_file: Path,
    log_base: Path,
    out: TextIO = sys.stdout,
    finish: Callable[[dict], dict] | None = None,
) -> dict:
    """Run the jobs of a graph (one build each) within the limits; record them as one build."""
    lock = threading.Lock()
    processes: list[subprocess.Popen] = []
    jobs: dict[str, dict] = {}
    trackers: list[Tracker] = []

    def emit(line: str) -> None:
        with lock:
            print(line, file=out, flush=True)

    def started(proc: subprocess.Popen) -> None:
        with lock:
            processes.append(proc)

    def run_job(target: str) -> bool:
        emit(f"--> job {target} (estimated {estimate(target) / 2**20:.0f} MiB)")
        sampler = Sampler(keep_series=False).start()  # the build's own sampler keeps the series
        begin = time.time()
        code, tracker, interrupted = stream_build(commands[target], log_base.with_name(
            f"{log_base.name}.{target}.rawjson"), emit, started)
        reason = transient({"status": "failed", "errors": tracker.errors()}) if code and not interrupted else None
        if reason:
            emit(f"--> job {target}: {reason}; trying once more")
            code, tracker, interrupted = stream_build(commands[target], log_base.with_name(
                f"{log_base.name}.{target}.retry.rawjson"), emit, started)
        end = time.time()
        usage = sampler.stop()
        stages = tracker.stages()
        with lock:
            trackers.append(tracker)
            jobs[target] = {
                "target": target,
                "start": round(begin, 3),
                "end": round(end, 3),
                "seconds": round(end - begin, 3),
                "status": _status(code, tracker, interrupted),
                "cached": bool(stages) and all(st.cached for st in stages),
                "memory_build_peak_bytes": max(0, usage["memory_peak_bytes"] - overall.baseline),
                "estimate_bytes": estimate(target),
                "errors": tracker.errors(),
            }
        emit(f"--> job {target}: {jobs[target]['status']} in {end - begin:.1f}s")
        return code == 0

    metadata_file.unlink(missing_ok=True)
    overall = Sampler().start()
    start = time.time()
    interrupted = False
    try:
        schedule.run_jobs(graph.jobs, graph.after, limits, estimate, run_job)
    except KeyboardInterrupt:
        interrupted = True
        for proc in processes:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGINT)
        for proc in processes:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
    end = time.time()
    overlapping = schedule.overlapped({name: (j["start"], j["end"]) for name, j in jobs.items()})
    for name, job in jobs.items():
        job["overlapped"] = overlapping[name]
    ordered = sorted(jobs.values(), key=lambda j: j["start"])
    failed = [j for j in ordered if j["status"] != "ok"]
    final_ok = all(jobs.get(name, {}).get("status") == "ok" for name in graph.jobs)
    status = ("interrupted" if interrupted else "ok" if final_ok and not failed
              else "OOM" if any(j["status"] == "OOM" for j in failed) else "failed")
    record = {
        **record,
        **overall.stop(),
        "start": iso(start),
        "end": iso(end),
        "wall_seconds": round(end - start, 3),
        "status": status,
        "exit_code": 0 if status == "ok" else 1,
        "digest": digest_from(metadata_file) if final_ok and graph.final else None,
        **(metadata_facts(metadata_file) if final_ok and graph.final else {}),
        "stages": merge_stages(trackers),
        "ccache": {stage: hits for t in trackers for stage, hits in t.ccache.items()},
        "errors": [e for j in failed for e in j["errors"]],
        "log": str(log_base.with_name(f"{log_base.name}.*.rawjson")),
        "scheduler": {"max_parallel": limits.max_parallel, "memory_budget_bytes": limits.memory_budget,
                      "max_concurrent": schedule.max_concurrency([(j["start"], j["end"]) for j in ordered])},
        "jobs": ordered,
    }
    return _complete(record, results_file, finish, interrupted)
