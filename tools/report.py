"""Tabulate recorded builds (pure functions over results records)."""

from __future__ import annotations

import csv
import io
import json

from tabulate import tabulate

from .host import short

FORMATS = ("github", "plain", "csv", "json")


def column(record: dict) -> str:
    """E.g. 'x86-64, 2 cores, 23 GiB / armv7 cross': how the code was compiled for the platform."""
    platforms = ",".join(record["platforms"])
    how = record.get("compiler") or ("emulated" if record.get("emulated") else "native")
    seq = ", sequential" if record.get("sequential") else ""
    return f"{short(record['host'])} / {platforms} {how}{seq}"


def cell(record: dict) -> str:
    if record["status"] == "ok":
        return f"{record['wall_seconds']:.0f}"
    return "OOM" if record["status"] == "OOM" else record["status"]


def select(records: list[dict], sets=None, images=None, platforms=None, hosts=None) -> list[dict]:
    def keep(r: dict) -> bool:
        return ((not sets or r["set"] in sets)
                and (not images or r["image"] in images)
                and (not platforms or any(p in platforms for p in r["platforms"]))
                and (not hosts or r["host"].get("name") in hosts))
    return [r for r in records if keep(r)]


def build_table(records: list[dict]) -> tuple[list[str], list[list[str]]]:
    """Rows: set and image; columns: host x platform; cell: the latest build's seconds or status."""
    latest: dict[tuple[str, str], dict[str, dict]] = {}
    columns: list[str] = []
    for record in sorted(records, key=lambda r: r["end"]):
        col = column(record)
        if col not in columns:
            columns.append(col)
        latest.setdefault((record["set"], record["image"]), {})[col] = record
    headers = ["set", "image", *columns]
    rows = []
    for (set_name, image), by_col in latest.items():
        rows.append([set_name, image, *[cell(by_col[c]) if c in by_col else "" for c in columns]])
    rows.sort(key=lambda row: (row[0], row[1]))
    return headers, rows


def render(headers: list[str], rows: list[list[str]], fmt: str) -> str:
    if fmt == "json":
        return json.dumps([dict(zip(headers, row)) for row in rows], indent=2)
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(headers)
        writer.writerows(rows)
        return out.getvalue().rstrip("\n")
    return tabulate(rows, headers=headers, tablefmt=fmt, disable_numparse=True)


def critical_path(stages: list[dict]) -> list[str]:
    """The chain of stages that set the build's length, from timing alone.

    From the stage that ended last, step back each time to the stage that ended last before
    the current one started: the stage it was waiting for.
    """
    if not stages:
        return []
    current = max(stages, key=lambda st: st["completed"])
    path = [current["stage"]]
    while True:
        before = [st for st in stages if st["completed"] <= current["started"] + 0.05 and st["stage"] not in path]
        if not before:
            break
        current = max(before, key=lambda st: st["completed"])
        path.append(current["stage"])
    return list(reversed(path))


def stage_table(record: dict) -> tuple[list[str], list[list[str]]]:
    """Per-stage breakdown of one build: offset from the first stage, seconds, cached, critical."""
    stages = sorted(record.get("stages", []), key=lambda st: st["started"])
    if not stages:
        return ["stage"], []
    origin = stages[0]["started"]
    critical = set(critical_path(stages))
    rows = [[st["stage"], f"{st['started'] - origin:.1f}", f"{st['seconds']:.1f}",
             "yes" if st["cached"] else "", "*" if st["stage"] in critical else ""] for st in stages]
    return ["stage", "starts at (s)", "seconds", "cached", "critical path"], rows


def mib(value) -> str:
    return f"{value / 2**20:.0f}" if isinstance(value, (int, float)) else ""


def sequential_table(records: list[dict]) -> tuple[list[str], list[list[str]]]:
    """Sequential against parallel, latest successful build of each, per set, image and platform."""
    latest: dict[tuple, dict[bool, dict]] = {}
    for record in sorted(records, key=lambda r: r["end"]):
        if record["status"] == "ok":
            key = (record["set"], record["image"], ",".join(record["platforms"]), short(record["host"]))
            latest.setdefault(key, {})[bool(record["sequential"])] = record
    headers = ["set", "image", "platform", "host", "parallel s", "sequential s", "time ratio",
               "parallel peak MiB", "sequential peak MiB", "memory ratio"]
    rows = []
    for (set_name, image, platforms, host), pair in sorted(latest.items()):
        if True not in pair or False not in pair:
            continue
        par, seq = pair[False], pair[True]
        par_mem, seq_mem = par.get("memory_build_peak_bytes"), seq.get("memory_build_peak_bytes")
        rows.append([set_name, image, platforms, host, f"{par['wall_seconds']:.0f}", f"{seq['wall_seconds']:.0f}",
                     f"{seq['wall_seconds'] / par['wall_seconds']:.2f}", mib(par_mem), mib(seq_mem),
                     f"{seq_mem / par_mem:.2f}" if par_mem and seq_mem else ""])
    return headers, rows
