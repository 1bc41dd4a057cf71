"""The bench's table (``bench``, ``report --view bench``): one run's figures, medians where repeated."""

from __future__ import annotations

import statistics

from .report import variant


def median(values: list[float]) -> float:
    return statistics.median(values)


def summarise(records: list[dict]) -> tuple[list[str], list[list[str]]]:
    """The bench table of one run (pure): one row per figure, medians where repeated."""
    by_part: dict[str, list[dict]] = {}
    for record in records:
        by_part.setdefault(record["bench"]["part"], []).append(record)
    headers = ["part", "what", "runs", "seconds (median)", "ratio", "peak MiB", "size MiB", "notes"]
    rows: list[list[str]] = []

    def mib(value) -> str:
        return f"{value / 2**20:.0f}" if value else ""

    nochange = [r for r in by_part.get("nochange", []) if r["bench"]["run"] > 0]
    if nochange:
        totals: dict[int, float] = {}
        for record in nochange:
            totals[record["bench"]["run"]] = totals.get(record["bench"]["run"], 0.0) + record["wall_seconds"]
        platforms = sorted({record["bench"]["label"] for record in nochange})
        rows.append(["nochange", f"rebuild {len(platforms)} platforms ({', '.join(platforms)})",
                     str(len(totals)), f"{median(list(totals.values())):.1f}", "", "", "",
                     "runs: " + ", ".join(f"{totals[r]:.1f}" for r in sorted(totals))])
    bumps = [r for r in by_part.get("bump", []) if r["bench"]["run"] > 0]
    if bumps:
        rebuilt = sorted({st["stage"] for r in bumps for st in r.get("stages", []) if not st["cached"]})
        hits = [f"{stage} {h['hits']}/{h['calls']}" for r in bumps for stage, h in sorted(r.get("ccache", {}).items())]
        rows.append(["bump", f"change one file of {bumps[0]['bench']['label']}", str(len(bumps)),
                     f"{median([r['wall_seconds'] for r in bumps]):.1f}", "", "", "",
                     "stages run: " + ", ".join(rebuilt) + ("; ccache hits: " + ", ".join(hits) if hits else "")])
    memory = [r for r in by_part.get("memory", []) if r["bench"]["run"] > 0]
    if memory:
        parallel = next((r for r in memory if r["bench"]["label"] == "parallel"), None)
        for record in memory:
            ratio = ""
            if parallel and parallel.get("memory_build_peak_bytes") and record.get("memory_build_peak_bytes"):
                ratio = f"{record['memory_build_peak_bytes'] / parallel['memory_build_peak_bytes']:.2f} of parallel"
            scheduler = record.get("scheduler") or {}
            rows.append(["memory", record["bench"]["label"], "1", _seconds(record), ratio,
                         mib(record.get("memory_build_peak_bytes")), "",
                         f"at most {scheduler.get('max_concurrent', '?')} stages at once"])
    cold = by_part.get("cold", [])
    native: dict[str, dict] = {}  # per image: an arm build is compared with the same image's native build
    for record in cold:
        if record.get("compiler") == "native" and record["status"] == "ok":
            native.setdefault(record["image"], record)
    for record in cold:
        ratio = ""
        own = native.get(record["image"])
        if own and record is not own and record["status"] == "ok":
            ratio = f"{record['wall_seconds'] / own['wall_seconds']:.2f} of native"
        rows.append(["cold", record["bench"]["label"], "1", _seconds(record), ratio,
                     mib(record.get("memory_build_peak_bytes")), mib(record.get("size_bytes")),
                     f"{record['image']}:{record['set']}{variant(record)}"])
    return headers, rows


def _seconds(record: dict) -> str:
    return f"{record['wall_seconds']:.1f}" if record["status"] == "ok" else record["status"]


def latest_run(records: list[dict]) -> list[dict]:
    """The records of the most recent bench run."""
    marked = [r for r in records if isinstance(r.get("bench"), dict)]
    if not marked:
        return []
    last = max(marked, key=lambda r: r["end"])["bench"]["id"]
    return [r for r in marked if r["bench"]["id"] == last]
