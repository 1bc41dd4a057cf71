"""Run one ``docker buildx build`` with live progress and record its result."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, TextIO

from . import results
from .sampling import Sampler, is_oom
from .progress import JsonStream, Tracker, describe


TRANSIENT_ERRORS = ("failed to prepare extraction snapshot",)


def transient(record: dict) -> bool:
    """A failed build whose error is a known intermittent engine failure worth one retry."""
    return record["status"] == "failed" and any(
        marker in error for error in record.get("errors", []) for marker in TRANSIENT_ERRORS)


def iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, timezone.utc).isoformat(timespec="seconds")


def digest_from(metadata_file: Path) -> str | None:
    try:
        data = json.loads(metadata_file.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    return data.get("containerimage.digest")


def stream_build(cmd: list[str], raw_log: Path, emit: Callable[[str], None]) -> tuple[int, Tracker, bool]:
    """Run buildx, decode its rawjson progress live, keep the raw stream.

    Returns (exit code, tracker, interrupted).
    """
    tracker = Tracker()
    stream = JsonStream()
    raw_log.parent.mkdir(parents=True, exist_ok=True)
    interrupted = False
    with open(raw_log, "wb") as log:
        proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, stdout=sys.stdout.fileno(), start_new_session=True)
        assert proc.stderr is not None
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


def run(
    cmd: list[str],
    *,
    record: dict,
    results_file: Path,
    metadata_file: Path,
    raw_log: Path,
    out: TextIO = sys.stdout,
) -> dict:
    """Run the build; append the completed record to the results file; return it."""

    def emit(line: str) -> None:
        print(line, file=out, flush=True)

    metadata_file.unlink(missing_ok=True)
    sampler = Sampler().start()
    start = time.time()
    code, tracker, interrupted = stream_build(cmd, raw_log, emit)
    end = time.time()
    usage = sampler.stop()
    status = "interrupted" if interrupted else ("ok" if code == 0 else "failed")
    if status == "failed" and is_oom(tracker.errors()):
        status = "OOM"
    record = {
        **record,
        **usage,
        "start": iso(start),
        "end": iso(end),
        "wall_seconds": round(end - start, 3),
        "status": status,
        "exit_code": code,
        "digest": digest_from(metadata_file) if code == 0 else None,
        "stages": [stage.as_dict() for stage in tracker.stages()],
        "errors": tracker.errors(),
        "log": str(raw_log),
    }
    results.append(results_file, record)
    if interrupted:
        raise KeyboardInterrupt
    return record
