"""Tabulate recorded builds (pure functions over results records)."""

from __future__ import annotations

import csv
import io
import json
import logging
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone

from tabulate import tabulate

from ..configuration.config import DEFAULT_TOOLCHAIN
from ..running.machine import short

FORMATS = ("github", "plain", "csv", "json")


def column(record: dict) -> str:
    """E.g. 'x86-64, 2 cores, 23 GiB / armv7 cross': how the code was compiled for the platform."""
    platforms = ",".join(record["platforms"])
    how = record.get("compiler") or ("emulated" if record.get("emulated") else "native")
    seq = ", sequential" if mode(record) == "sequential" else ""
    return f"{short(record['host'])} / {platforms} {how}{seq}"


def cell(record: dict) -> str:
    if record["status"] == "ok":
        return f"{record['wall_seconds']:.0f}"
    return "OOM" if record["status"] == "OOM" else record["status"]


def select(records: list[dict], sets=None, images=None, platforms=None, hosts=None,
           since: str | None = None, until: str | None = None, cold: bool = False) -> list[dict]:
    """Records matching every filter given; dates compare with the build's end (ISO 8601, UTC).

    ``until`` takes a date or a time: a bare date includes the whole of that day.
    """
    def keep(r: dict) -> bool:
        return ((not sets or r["set"] in sets)
                and (not images or r["image"] in images)
                and (not platforms or any(p in platforms for p in r["platforms"]))
                and (not hosts or r["host"].get("name") in hosts)
                and (not since or r["end"] >= since)
                and (not until or r["end"][:len(until)] <= until)
                and (not cold or bool(r.get("no_cache"))))
    return [r for r in records if keep(r)]


def variant(record: dict) -> str:
    """`` (clang, without dicomweb, wsi)``: how a build differs from the default one (compiled by
    clang, built without some plugins), else ''. A variant is not the image: it gets rows of its own."""
    toolchain = record.get("toolchain", DEFAULT_TOOLCHAIN)
    words = [toolchain] if toolchain != DEFAULT_TOOLCHAIN else []
    without = record.get("without") or []
    if without:
        words.append(f"without {', '.join(without)}")
    return f" ({', '.join(words)})" if words else ""


def image_label(record: dict) -> str:
    """The image, and how the build differs from the default one, if it does (``variant``)."""
    return record["image"] + variant(record)


def mode(record: dict) -> str:
    """How the builder stages were scheduled: parallel, sequential or budget."""
    scheduler = record.get("scheduler") or {}
    if record.get("sequential") or scheduler.get("max_parallel") == 1:
        return "sequential"
    return "budget" if scheduler.get("memory_budget_bytes") else "parallel"


def build_table(records: list[dict]) -> tuple[list[str], list[list[str]]]:
    """Rows: set and image; columns: host x platform; cell: the latest build's seconds or status."""
    latest: dict[tuple[str, str], dict[str, dict]] = {}
    columns: list[str] = []
    for record in sorted(records, key=lambda r: r["end"]):
        if record.get("only_stages"):
            continue  # stages built into the cache, not an image
        col = column(record)
        if col not in columns:
            columns.append(col)
        latest.setdefault((record["set"], image_label(record)), {})[col] = record
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


def critical_path(stages: list[dict], needs: Mapping[str, Collection[str]] | None = None) -> list[str]:
    """The chain of stages that set the build's length.

    From the stage that ended last, step back each time to the stage it was waiting for.  With
    ``needs`` (each stage's stages in the Dockerfile: its base and what it copies from), that is the
    one of them that ended last, since a stage may start early and wait in the middle (a plugin's
    stage installs its packages, then waits for the core's framework library).  Otherwise, from timing
    alone: the stage that ended last before the current one started.
    """
    if not stages:
        return []
    by_name = {st["stage"]: st for st in stages}
    current = max(stages, key=lambda st: st["completed"])
    path = [current["stage"]]
    while True:
        before = [by_name[name] for name in _recorded_needs(needs or {}, current["stage"], by_name)
                  if name not in path]
        if not before:
            before = [st for st in stages
                      if st["completed"] <= current["started"] + 0.05 and st["stage"] not in path]
        if not before:
            break
        current = max(before, key=lambda st: st["completed"])
        path.append(current["stage"])
    return list(reversed(path))


def _recorded_needs(needs: Mapping[str, Collection[str]], name: str, recorded: Mapping[str, dict]) -> set[str]:
    """The stages ``name`` needs that the record has; a stage it lacks (no steps of its own, such
    as an alias of another) stands for what that stage needs."""
    found: set[str] = set()
    todo, seen = list(needs.get(name, ())), set()
    while todo:
        other = todo.pop()
        if other in seen:
            continue
        seen.add(other)
        if other in recorded:
            found.add(other)
        else:
            todo.extend(needs.get(other, ()))
    return found


def stage_table(record: dict, needs: Mapping[str, Collection[str]] | None = None) -> tuple[list[str], list[list[str]]]:
    """Per-stage breakdown of one build: offset from the first stage, seconds, cached, critical."""
    stages = sorted(record.get("stages", []), key=lambda st: st["started"])
    if not stages:
        return ["stage"], []
    origin = stages[0]["started"]
    critical = set(critical_path(stages, needs))
    rows = [[st["stage"], f"{st['started'] - origin:.1f}", f"{st['seconds']:.1f}",
             "yes" if st["cached"] else "", "*" if st["stage"] in critical else ""] for st in stages]
    return ["stage", "starts at (s)", "seconds", "cached", "critical path"], rows


def mib(value) -> str:
    return f"{value / 2**20:.0f}" if isinstance(value, (int, float)) else ""


def sequential_table(records: list[dict]) -> tuple[list[str], list[list[str]]]:
    """Sequential against parallel, latest successful build of each, per set, image and platform."""
    latest: dict[tuple, dict[str, dict]] = {}
    for record in sorted(records, key=lambda r: r["end"]):
        if record["status"] == "ok":
            what = image_label(record) + "".join(f" {s}" for s in record.get("only_stages", []))
            key = (record["set"], what, ",".join(record["platforms"]), short(record["host"]))
            latest.setdefault(key, {})[mode(record)] = record
    headers = ["set", "image", "platform", "host", "parallel s", "sequential s", "time ratio",
               "parallel peak MiB", "sequential peak MiB", "memory ratio"]
    rows = []
    for (set_name, image, platforms, host), pair in sorted(latest.items()):
        if "sequential" not in pair or "parallel" not in pair:
            continue
        par, seq = pair["parallel"], pair["sequential"]
        par_mem, seq_mem = par.get("memory_build_peak_bytes"), seq.get("memory_build_peak_bytes")
        rows.append([set_name, image, platforms, host, f"{par['wall_seconds']:.0f}", f"{seq['wall_seconds']:.0f}",
                     f"{seq['wall_seconds'] / par['wall_seconds']:.2f}", mib(par_mem), mib(seq_mem),
                     f"{seq_mem / par_mem:.2f}" if par_mem and seq_mem else ""])
    return headers, rows


def size_table(records: list[dict]) -> tuple[list[str], list[list[str]]]:
    """Unpacked image size in MiB: rows set and image, columns platform (latest measured build)."""
    latest: dict[tuple[str, str], dict[str, dict]] = {}
    columns: list[str] = []
    for record in sorted(records, key=lambda r: r["end"]):
        if record["status"] == "ok" and record.get("size_bytes") and len(record["platforms"]) == 1:
            platform = record["platforms"][0]
            if platform not in columns:
                columns.append(platform)
            latest.setdefault((record["set"], image_label(record)), {})[platform] = record
    rows = [[set_name, image, *[mib(by[c]["size_bytes"]) if c in by else "" for c in columns]]
            for (set_name, image), by in sorted(latest.items())]
    return ["set", "image", *[f"{c} MiB" for c in columns]], rows


def digest_table(records: list[dict]) -> tuple[list[str], list[list[str]]]:
    """The latest successful build of each set, image and platform: its digest (the platform's image
    manifest for a reproducible build, which a later one must match), whether it was reproducible, and
    the sources' date it carries."""
    latest: dict[tuple[str, str, str], dict] = {}
    for record in sorted(records, key=lambda r: r["end"]):
        if record["status"] == "ok" and len(record["platforms"]) == 1 and record.get("digest"):
            latest[(record["set"], image_label(record), record["platforms"][0])] = record
    rows = []
    for (set_name, image, platform), record in sorted(latest.items()):
        digest = (record.get("platform_digests") or {}).get(platform) or record["digest"]
        epoch = record.get("source_date_epoch")
        date = datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%d") if epoch is not None else ""
        rows.append([set_name, image, platform, digest, "yes" if record.get("reproducible") else "no", date,
                     record["end"][:16]])
    return ["set", "image", "platform", "digest", "reproducible", "sources' date", "built"], rows


# --- charts -----------------------------------------------------------------------------
#
# Drawn with matplotlib's Agg backend on figures of their own (no pyplot state), so a report can
# draw several at once and a test can measure what was drawn.  matplotlib's and Pillow's own debug
# messages (its settings on import, hundreds of font lookups) are not the report's: a caller that logs
# at debug level, as nox does, would print them between the report's lines.

for _name in ("matplotlib", "PIL"):
    logging.getLogger(_name).setLevel(logging.WARNING)

#: One colour per way of compiling (Okabe-Ito, readable by the colour-blind); sequential is lighter.
WAY_COLOURS = {"native": "#0072B2", "cross": "#E69F00", "emulated": "#D55E00",
               "native, sequential": "#56B4E9", "cross, sequential": "#F3C867",
               "emulated, sequential": "#EE9E6E"}
OTHER_COLOUR = "#999999"
#: A bar this many times longer than the next shorter one cuts the axis (it would flatten the rest).
DWARFS = 2.5
CHART_WIDTH = 8.5  # inches; at 100 dpi the README shows the PNG at its size


def _figure(width: float, height: float):
    """A figure drawn by Agg, laid out by constrained layout."""
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def save(figure, path) -> None:
    """The figure as a PNG, to a path or a binary file."""
    figure.savefig(path, format="png", dpi=100)


def png_bytes(figure) -> bytes:
    out = io.BytesIO()
    save(figure, out)
    return out.getvalue()


def _wrap(text: str, width: int) -> str:
    import textwrap
    return "\n".join(textwrap.wrap(text, width, break_long_words=False, break_on_hyphens=False)) or text


def split_column(name: str) -> tuple[str, str, str]:
    """A build-table column, e.g. 'x86-64, 2 cores, 24 GiB / armv7 cross, sequential', as
    (host, platforms, way of compiling)."""
    host, _, rest = name.rpartition(" / ")
    platforms, _, way = rest.partition(" ")
    return host, platforms, way


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def axis_cut(values: list[float]) -> float | None:
    """Where to cut the value axis so that bars that dwarf the rest leave them readable, else None.

    At the widest gap between sorted values, if the longer side is more than ``DWARFS`` times
    the shorter: a little beyond the longest bar below the gap.
    """
    ordered = sorted(v for v in values if v > 0)
    best, at = 0.0, None
    for low, high in zip(ordered, ordered[1:]):
        if high / low > best:
            best, at = high / low, low
    return at * 1.3 if at is not None and best > DWARFS else None


def chart_figure(headers: list[str], rows: list[list[str]], title: str = "Build time"):
    """The build-time table as horizontal bars: a group per image, a bar per host and platform
    (coloured by the way of compiling), the value at the end of each bar."""
    from matplotlib.patches import Patch

    columns = [split_column(name) for name in headers[2:]]
    hosts = list(dict.fromkeys(host for host, _, _ in columns))
    tags = {host: (f" ({chr(65 + i)})" if len(hosts) > 1 else "") for i, host in enumerate(hosts)}
    groups = []  # (heading, [(tick label, way, seconds or None, cell text)])
    for row in rows:
        name, _, partial = row[1].partition(" (")
        heading = f"{name}:{row[0]}" + (f" ({partial}" if partial else "")
        bars = [(f"{platforms} {way}{tags[host]}", way, _number(text), text)
                for (host, platforms, way), text in zip(columns, row[2:]) if text]
        if bars:
            groups.append((heading, bars))
    values = [seconds for _, bars in groups for _, _, seconds, _ in bars if seconds is not None]
    cut = axis_cut(values)
    longest = max([min(v, cut) if cut else v for v in values] or [1.0])

    count = sum(len(bars) for _, bars in groups)
    figure = _figure(CHART_WIDTH, 1.9 + 0.34 * count + 0.42 * len(groups))
    axes = figure.add_subplot()
    y, ticks, tick_labels, headings = 0.0, [], [], []
    for heading, bars in groups:
        headings.append((y, heading))
        y += 0.9
        for label, way, seconds, text in bars:
            shown = min(seconds, cut) if seconds is not None and cut else seconds
            colour = WAY_COLOURS.get(way, OTHER_COLOUR)
            if seconds is None:  # failed, OOM, interrupted: no time to show
                axes.text(longest * 0.01, y, text, va="center", ha="left", fontsize=9, color="#B00020",
                          fontweight="bold")
            else:
                axes.barh(y, shown, height=0.72, color=colour, edgecolor="white",
                          hatch="//" if "sequential" in way else None)
                if cut and seconds > cut:  # a break across the cut bar
                    axes.plot([shown * 0.955, shown * 0.975], [y + 0.42, y - 0.42], color="white", lw=3)
                axes.text(shown + longest * 0.01, y, f"{seconds:.0f} s", va="center", ha="left", fontsize=9)
            ticks.append(y)
            tick_labels.append(label)
            y += 1.0
        y += 0.35
    for at, heading in headings:
        axes.text(0.006, at + 0.1, _wrap(heading, 80), va="center", ha="left", fontsize=10, fontweight="bold",
                  transform=axes.get_yaxis_transform())
    axes.set_yticks(ticks, tick_labels, fontsize=9)
    axes.tick_params(axis="y", length=0)
    axes.set_ylim(y - 0.35, -0.7)
    axes.set_xlim(0, longest * 1.16)
    axes.set_xlabel("seconds of wall time (latest build of each)")
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)
    axes.grid(axis="x", color="#DDDDDD", lw=0.8)
    axes.set_axisbelow(True)

    head = title + (f" — {hosts[0]}" if len(hosts) == 1 else "")
    figure.suptitle(_wrap(head, 90), fontsize=12)
    notes = []
    if len(hosts) > 1:
        notes.append("Hosts: " + "; ".join(f"{tags[h].strip(' ()')} = {h}" for h in hosts) + ".")
    if cut:
        over = [f"{label} {seconds:.0f} s" for _, bars in groups for label, _, seconds, _ in bars
                if seconds is not None and seconds > cut]
        notes.append(f"Axis cut at {cut:.0f} s so the other bars stay readable (cut: {', '.join(over)}).")
    ways = [way for way in WAY_COLOURS if any(w == way for _, bars in groups for _, w, _, _ in bars)]
    handles = [Patch(facecolor=WAY_COLOURS[way], hatch="//" if "sequential" in way else None,
                     edgecolor="white", label=way) for way in ways]
    if handles:
        figure.legend(handles=handles, loc="outside lower center", ncol=min(len(handles), 6), fontsize=9,
                      frameon=False, title="\n".join(_wrap(n, 110) for n in notes) or None,
                      title_fontsize=8.5)
    elif notes:
        figure.supxlabel("\n".join(notes), fontsize=8.5)
    return figure


def chart(headers: list[str], rows: list[list[str]], path, title: str = "Build time") -> None:
    """The build-time table as a PNG bar chart (see ``chart_figure``)."""
    save(chart_figure(headers, rows, title), path)


# --- timelines ------------------------------------------------------------------------------

STAGE_COLOURS = {"critical": "#D55E00", "ran": "#0072B2", "cached": "#D9D9D9"}
STATUS_COLOURS = {"ok": "#009E73", "failed": "#B00020", "OOM": "#B00020", "interrupted": "#999999"}
PART_COLOURS = {"cold": "#0072B2", "nochange": "#999999", "bump": "#E69F00", "memory": "#009E73"}
MEMORY_COLOUR = "#CC79A7"
ROW = 0.3  # inches per timeline row


@dataclass(frozen=True)
class Bar:
    """One row of a timeline: a span of time (epoch seconds) and what to write beside it."""

    label: str
    start: float
    end: float
    colour: str
    text: str
    cached: bool = False  # drawn hatched; not counted as running
    bold: bool = False


def epoch(iso_time: str) -> float:
    return datetime.fromisoformat(iso_time).timestamp()


def host_line(record: dict) -> str:
    cpu = record["host"].get("cpu")
    return f"{cpu}, {short(record['host'])}" if cpu else short(record["host"])


def way(record: dict) -> str:
    """How the code was compiled, e.g. 'cross' or 'native, sequential'."""
    return column(record).rpartition(" / ")[2].partition(" ")[2]


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds >= 9.95 else f"{seconds:.1f} s"


def display_name(record: dict) -> str:
    """E.g. 'orthanc-plugins:1.13.0 (without wsi) build-gdcm': image and set, what was left out, the
    stages when only some were built."""
    stages = "".join(f" {s}" for s in record.get("only_stages", []))
    return f"{record['image']}:{record['set']}{variant(record)}{stages}"


def _gib(value: float) -> str:
    return f"{value / 2**30:.1f} GiB"


def stage_bars(record: dict, needs: Mapping[str, Collection[str]] | None = None) -> list[Bar]:
    """A bar per Dockerfile stage, in the order they started: cached, on the critical path, or ran."""
    stages = sorted(record.get("stages", []), key=lambda st: (st["started"], st["stage"]))
    critical = set(critical_path(stages, needs))
    bars = []
    for st in stages:
        kind = "cached" if st["cached"] else "critical" if st["stage"] in critical else "ran"
        text = "cached" if st["cached"] else _duration(st["seconds"])
        bars.append(Bar(st["stage"], st["started"], st["completed"], STAGE_COLOURS[kind], text,
                        cached=st["cached"], bold=kind == "critical"))
    return bars


def job_bars(record: dict) -> list[Bar]:
    """A bar per job of a scheduled build: its status, time, and the memory it took."""
    bars = []
    for job in sorted(record.get("jobs", []), key=lambda j: j["start"]):
        parts = [_duration(job["end"] - job["start"])]
        if job.get("memory_build_peak_bytes"):
            parts.append(f"peak {_gib(job['memory_build_peak_bytes'])}")
        if job.get("cached"):
            parts.append("cached")
        if job["status"] != "ok":
            parts.append(job["status"])
        bars.append(Bar(job["target"], job["start"], job["end"], STATUS_COLOURS.get(job["status"], OTHER_COLOUR),
                        ", ".join(parts), cached=bool(job.get("cached"))))
    return bars


def limits_text(record: dict) -> str:
    """The limits a scheduled build ran within, in words."""
    scheduler = record.get("scheduler") or {}
    limits = []
    if scheduler.get("max_parallel"):
        limits.append(f"max-parallel {scheduler['max_parallel']}")
    if scheduler.get("memory_budget_bytes"):
        limits.append(f"memory budget {_gib(scheduler['memory_budget_bytes'])}")
    jobs = record.get("compile_jobs")
    if isinstance(jobs, int):
        limits.append(f"{jobs} compile job{'s' if jobs != 1 else ''} per stage")
    limit = ", ".join(limits) or "no limit"
    return f"Jobs ({limit}; at most {scheduler.get('max_concurrent', '?')} at once)"


def _series(record: dict) -> tuple[list[float], list[float], float]:
    """The record's memory series as (epoch seconds, bytes in use, seconds a point stands for);
    empty lists when there is none."""
    data = record.get("memory_series") or {}
    points = data.get("points") or []
    return ([data["started"] + t for t, _ in points], [v * 2**20 for _, v in points],
            data.get("step_seconds") or 1.0)


def _draw_bars(axes, bars: list[Bar], origin: float, span: float) -> None:
    axes.set_ylim(len(bars) - 0.4, -0.6)
    axes.set_yticks(range(len(bars)), [bar.label for bar in bars], fontsize=9)
    for label, bar in zip(axes.get_yticklabels(), bars):
        if bar.bold:
            label.set_fontweight("bold")
    axes.tick_params(axis="y", length=0)
    char = span * 0.0092  # the width of one character of the labels, in seconds
    for row, bar in enumerate(bars):
        left, right = bar.start - origin, bar.end - origin
        axes.barh(row, max(right - left, span * 0.003), left=left, height=0.68, color=bar.colour,
                  hatch="//" if bar.cached else None, edgecolor="#888888" if bar.cached else bar.colour, lw=0.5)
        room = (len(bar.text) + 1.5) * char
        if right + room < span * 1.01:
            axes.text(right + char * 0.6, row, bar.text, va="center", ha="left", fontsize=8)
        elif left - room > 0:
            axes.text(left - char * 0.6, row, bar.text, va="center", ha="right", fontsize=8)
        else:
            axes.text(right - char * 0.6, row, bar.text, va="center", ha="right", fontsize=8, color="white")
    axes.grid(axis="x", color="#E5E5E5", lw=0.8)
    axes.set_axisbelow(True)
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)


def _running_at(bars: list[Bar], start: float, end: float) -> list[str]:
    """What ran (not cached) at some time between start and end."""
    return [bar.label for bar in bars if bar.start < end and bar.end > start and not bar.cached]


def _draw_memory(axes, series: list[tuple[list[float], list[float], float]], origin: float, *, baseline=None,
                 budget=None, total=None, during: list[Bar] = ()) -> None:
    """Memory in use, as steps (each sample holds until the next), with the peak described above."""
    peak, peak_at, peak_step = 0.0, 0.0, 1.0
    for index, (times, values, step) in enumerate(series):
        axes.fill_between([t - origin for t in times], [v / 2**30 for v in values], step="post",
                          color=MEMORY_COLOUR, alpha=0.25, lw=0)
        axes.step([t - origin for t in times], [v / 2**30 for v in values], where="post", color=MEMORY_COLOUR,
                  lw=1.4, label=None if index else "memory in use")
        for t, v in zip(times, values):  # the first peak, as ``max`` would find it
            if v > peak:
                peak, peak_at, peak_step = v, t, step
    top = peak
    if baseline:
        axes.axhline(baseline / 2**30, color="#666666", ls="--", lw=1, label="before the build")
    if baseline and budget:
        axes.axhline((baseline + budget) / 2**30, color="#B00020", ls=":", lw=1.5,
                     label=f"budget: before the build + {_gib(budget)}")
        top = max(top, baseline + budget)
    axes.set_ylim(0, top / 2**30 * 1.18 or 1)
    axes.set_ylabel("GiB in use", fontsize=9)
    axes.grid(color="#E5E5E5", lw=0.8)
    axes.set_axisbelow(True)
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)
    words = f"Memory in use on the machine{f' (of {_gib(total)})' if total else ''}: peak {_gib(peak)} " \
            f"at {peak_at - origin:.0f} s"
    if baseline:
        words += f", {_gib(max(0.0, peak - baseline))} above the {_gib(baseline)} before the build"
    running = _running_at(list(during), peak_at, peak_at + peak_step)
    if running:
        words += f"; running then: {', '.join(running)}"
    axes.set_title(_wrap(words, 100), fontsize=9, loc="left")


#: What the colours of a build's timeline mean: (colour, cached, words).
STAGE_LEGEND = [(STAGE_COLOURS["critical"], False, "stage on the critical path"),
                (STAGE_COLOURS["ran"], False, "stage that ran"), (STAGE_COLOURS["cached"], True, "cached stage")]
JOB_LEGEND = [(STATUS_COLOURS["ok"], False, "job ok"), (STATUS_COLOURS["failed"], False, "job failed"),
              (STATUS_COLOURS["interrupted"], False, "job interrupted")]
BENCH_LEGEND = [(colour, False, part) for part, colour in PART_COLOURS.items()] + [
    (STATUS_COLOURS["failed"], False, "failed")]


def _timeline_figure(title: str, panels: list[tuple[str, list[Bar]]], series, memory: dict, note: str | None,
                     legend: list[tuple[str, bool, str]], start: str = "the build"):
    """Panels of bars over one time axis, and under them, when there is a series, the memory in use;
    the legend's entries whose colours were drawn."""
    from matplotlib.patches import Patch

    times = [t for _, bars in panels for bar in bars for t in (bar.start, bar.end)]
    times += [t for xs, _, _ in series for t in xs]
    origin = min(times) if times else 0.0
    span = max(1.0, (max(times) - origin) if times else 1.0)
    rows = [max(1, len(bars)) for _, bars in panels]
    heights = [ROW * n + 0.45 for n in rows] + ([1.9] if series else [])
    figure = _figure(CHART_WIDTH, sum(heights) + 1.3 + (0.3 if note else 0))
    grid = figure.add_gridspec(len(heights), 1, height_ratios=heights)
    axes_list = []
    for index, (heading, bars) in enumerate(panels):
        axes = figure.add_subplot(grid[index], sharex=axes_list[0] if axes_list else None)
        _draw_bars(axes, bars, origin, span)
        axes.set_title(heading, fontsize=9.5, loc="left")
        axes_list.append(axes)
    if series:
        axes = figure.add_subplot(grid[len(panels)], sharex=axes_list[0] if axes_list else None)
        _draw_memory(axes, series, origin, **memory)
        axes_list.append(axes)
    for axes in axes_list[:-1]:
        axes.tick_params(axis="x", labelbottom=False)
    axes_list[0].set_xlim(0, span * 1.01)
    axes_list[-1].set_xlabel(f"seconds since {start} started" + (f"\n{_wrap(note, 100)}" if note else ""),
                             fontsize=9)
    figure.suptitle("\n".join(_wrap(line, 95) for line in title.split("\n")), fontsize=11)
    drawn = {bar.colour for _, bars in panels for bar in bars}
    handles = [Patch(facecolor=colour, hatch="//" if cached else None, edgecolor="#888888" if cached else colour,
                     label=words) for colour, cached, words in legend if colour in drawn]
    if series:
        handles += axes_list[-1].get_legend_handles_labels()[0]
    if handles:
        figure.legend(handles=handles, loc="outside lower center", ncol=min(len(handles), 4), fontsize=8.5,
                      frameon=False)
    return figure


def timeline_figure(record: dict, needs: Mapping[str, Collection[str]] | None = None):
    """One build on a time axis: its jobs (a scheduled build) and the limits in force, a row per
    Dockerfile stage (cached stages hatched, the critical path in bold), and under them the
    machine's memory in use.  ``needs``: the stages' dependencies, for the critical path.
    Returns (figure, the stage names drawn, in order)."""
    stages = stage_bars(record, needs)
    panels = []
    if record.get("jobs"):
        panels.append((limits_text(record), job_bars(record)))
    panels.append((f"Dockerfile stages ({len(stages)}; the critical path in bold)" if stages
                   else "no stage times recorded", stages))
    series = [found for found in [_series(record)] if len(found[0]) > 1]
    note = None
    if not series:
        peak = record.get("memory_build_peak_bytes")
        note = ("No memory series in this record (built before memory was sampled over time)"
                + (f"; its peak: {_gib(peak)} above the machine's use before the build." if peak else "."))
    scheduler = record.get("scheduler") or {}
    memory = {"baseline": record.get("memory_baseline_bytes"), "budget": scheduler.get("memory_budget_bytes"),
              "total": record["host"].get("memory_bytes"), "during": stages}
    title = (f"{display_name(record)} \u2014 {','.join(record['platforms'])} {way(record)}"
             f"{', cold' if record.get('no_cache') else ''}: {cell(record)}"
             f"{' s' if record['status'] == 'ok' else ''}\nended {record['end'][:10]} on {host_line(record)}")
    legend = STAGE_LEGEND + (JOB_LEGEND if record.get("jobs") else [])
    return _timeline_figure(title, panels, series, memory, note, legend), [bar.label for bar in stages]


def timeline(record: dict, path, needs: Mapping[str, Collection[str]] | None = None) -> list[str]:
    """Draw ``timeline_figure`` as a PNG; returns the stage names drawn."""
    figure, names = timeline_figure(record, needs)
    save(figure, path)
    return names


def timeline_record(records: list[dict], default_set: str | None = None) -> dict | None:
    """The build the README's timeline shows: the latest cold orthanc-plugins build of the default
    set, else the latest cold build, else (other records) the latest build with stage times."""
    timed = [r for r in records if r.get("stages")]
    cold = [r for r in timed if r.get("no_cache")]
    for pool in ([r for r in cold if r["image"] == "orthanc-plugins" and r["set"] == default_set
                  and not r.get("only_stages")], cold, timed):
        if pool:
            return max(pool, key=lambda r: r["end"])
    return None


def bench_timeline_figure(run: list[dict]):
    """A bench run on a time axis: a row per build (coloured by part), the memory in use under it."""
    records = sorted(run, key=lambda r: r["start"])
    bars = []
    for record in records:
        info = record["bench"]
        start, end = epoch(record["start"]), epoch(record["end"])
        colour = PART_COLOURS.get(info["part"], OTHER_COLOUR) if record["status"] == "ok" else STATUS_COLOURS["failed"]
        bars.append(Bar(f"{info['part']} {info['run']}: {info['label']}", start, end, colour, _duration(
            record["wall_seconds"]) if record["status"] == "ok" else record["status"]))
    series = [s for s in (_series(r) for r in records) if len(s[0]) > 1]
    note = None if series else "No memory series in these records (built before memory was sampled over time)."
    title = f"Bench run {records[0]['bench']['id']} \u2014 {host_line(records[0])}" if records else "Bench run"
    memory = {"total": records[0]["host"].get("memory_bytes") if records else None, "during": bars}
    return _timeline_figure(title, [(f"Builds ({len(bars)}, in the order they ran)", bars)], series, memory, note,
                            BENCH_LEGEND, start="the run")


def bench_timeline(run: list[dict], path) -> None:
    """Draw ``bench_timeline_figure`` as a PNG."""
    save(bench_timeline_figure(run), path)


# --- one page ------------------------------------------------------------------------------

HTML_STYLE = """
body { font-family: sans-serif; margin: 2em auto; max-width: 60em; padding: 0 1em; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 2em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; }
th { background: #f2f2f2; } td.number { text-align: right; }
img { max-width: 100%; height: auto; display: block; margin: 1em 0; }
p.note { color: #555; font-size: 0.9em; }
"""


def html_table(headers: list[str], rows: list[list[str]], caption: str) -> str:
    """A table with escaped cells; numbers align right."""
    from html import escape

    def cell_html(text: str) -> str:
        kind = ' class="number"' if text.replace(".", "", 1).isdigit() else ""
        return f"<td{kind}>{escape(text)}</td>"
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "\n".join("<tr>" + "".join(cell_html(c) for c in row) + "</tr>" for row in rows)
    return f'<table data-table="{escape(caption)}">\n<tr>{head}</tr>\n{body}\n</table>'


def html_image(figure, alt: str) -> str:
    """The figure as an <img> whose PNG is inside the page (a data: URI): the page stands alone."""
    import base64
    from html import escape

    data = base64.b64encode(png_bytes(figure)).decode("ascii")
    return f'<img alt="{escape(alt)}" src="data:image/png;base64,{data}">'


def html_page(records: list[dict], default_set: str | None = None, generated: str = "",
              needs: Mapping[str, Collection[str]] | None = None) -> str:
    """One self-contained page: the build-time table and chart, the timeline of one build and its
    stages, and the latest bench run's table and timeline (all images inside the page)."""
    from html import escape

    from .bench_table import latest_run, summarise

    hosts = sorted({host_line(r) for r in records})
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             "<title>Orthanc image builds: report</title>", f"<style>{HTML_STYLE}</style></head><body>",
             "<h1>Orthanc image builds: report</h1>",
             f'<p class="note">{len(records)} build record(s); host(s): {escape("; ".join(hosts))}.'
             f'{escape(" Generated " + generated + ".") if generated else ""}</p>']

    headers, rows = build_table(records)
    parts.append("<h2>Build time</h2>")
    parts.append(html_table(headers, rows, "build-times"))
    parts.append('<p class="note">Seconds of wall time of the latest build of each image and platform; '
                 "<code>failed</code> or <code>OOM</code> when it did not finish.</p>")
    if rows:
        parts.append(html_image(chart_figure(headers, rows), "Build time per image and platform"))

    record = timeline_record(records, default_set)
    parts.append("<h2>Timeline of one build</h2>")
    if record is None:
        parts.append("<p>No build with stage times in these records.</p>")
    else:
        figure, _ = timeline_figure(record, needs)
        parts.append(f"<p>{escape(display_name(record))}, {escape(','.join(record['platforms']))} "
                     f"{escape(way(record))}, ended {escape(record['end'])}.</p>")
        parts.append(html_image(figure, f"Timeline of {display_name(record)}"))
        stage_headers, stage_rows = stage_table(record, needs)
        parts.append(html_table(stage_headers, stage_rows, "stages"))

    run = latest_run(records)
    parts.append("<h2>Bench</h2>")
    if not run:
        parts.append("<p>No bench run in these records.</p>")
    else:
        parts.append(f"<p>Bench run {escape(run[0]['bench']['id'])} on {escape(host_line(run[0]))}.</p>")
        bench_headers, bench_rows = summarise(run)
        parts.append(html_table(bench_headers, bench_rows, "bench"))
        parts.append(html_image(bench_timeline_figure(run), f"Bench run {run[0]['bench']['id']}"))
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


README_START = "<!-- {name}: generated by `nox -s report -- --readme`, do not edit -->"
README_END = "<!-- /{name} -->"


def readme_block(text: str, name: str, table: str) -> str:
    """``text`` with the block between the markers of ``name`` replaced by ``table``."""
    start, end = README_START.format(name=name), README_END.format(name=name)
    before, found, rest = text.partition(start)
    if not found or end not in rest:
        raise ValueError(f"no '{start}' ... '{end}' block")
    _, _, after = rest.partition(end)
    return f"{before}{start}\n{table}\n{end}{after}"


DATE_FORMATS = ("%Y-%m-%d", "%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S")


def date_problem(text: str) -> str | None:
    """What is wrong with a --since or --until value (records compare by their ISO 8601 end), else None."""
    for fmt in DATE_FORMATS:
        try:
            datetime.strptime(text, fmt)
        except ValueError:
            continue
        if len(text) in (10, 16, 19):  # strptime takes 2026-1-5 too; the comparison wants zero padding
            return None
    return f"'{text}' is not a date (want YYYY-MM-DD, YYYY-MM-DDTHH:MM or YYYY-MM-DDTHH:MM:SS, UTC)"
