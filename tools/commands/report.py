"""``report``: tables and charts of the recorded builds; ``report --readme``: the README's table."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from ..configuration import config
from ..errors import UsageError
from ..paths import CHART, DEFAULT_CONFIG, DEFAULT_DOCKERFILE, REFERENCE, ROOT, TIMELINE
from ..planning import dockerfile
from ..reporting import bench_table, report
from .checks import check_dates, check_output, check_results_file, read_all

VIEWS = ("times", "stages", "sequential", "sizes", "digests", "bench")


@dataclass(frozen=True)
class Selection:
    """Which records: of these sets, images, platforms, hosts, dates; cold builds only."""

    sets: tuple[str, ...] | None = None
    images: tuple[str, ...] | None = None
    platforms: tuple[str, ...] | None = None
    hosts: tuple[str, ...] | None = None
    since: str | None = None
    until: str | None = None
    cold: bool = False

    def check(self) -> None:
        check_dates(self.since, self.until)

    def of(self, records: list[dict]) -> list[dict]:
        return report.select(records, self.sets, self.images, self.platforms, self.hosts, self.since, self.until,
                             self.cold)


@dataclass(frozen=True)
class ReportRequest:
    results: tuple[Path, ...] = ()  # default: settings.results
    format: str = "plain"
    view: str = "times"
    selection: Selection = Selection()
    chart: Path | None = None
    html: Path | None = None
    readme: Path | None = None
    config: Path = DEFAULT_CONFIG


def run(request: ReportRequest) -> int:
    cfg = config.load(request.config)
    if request.readme:
        return write_readme(request.readme, cfg.settings.default_set)
    files = list(request.results) or [cfg.root / cfg.settings.results]
    for path in files:
        check_results_file(path, "--results" if request.results else "settings.results")
    request.selection.check()
    check_output(request.chart, "--chart")
    check_output(request.html, "--html")
    records = read_all(files)
    chosen = request.selection.of(records)
    if not chosen:
        print("no recorded builds" + (" match" if records else f" in {', '.join(map(str, files))}"))
        return 0
    needs = stage_needs()  # for the critical path of a build's stages (the stages view, the HTML page)
    drawing = None  # what --chart draws, as (function, what it draws); else the build-time chart
    if request.view == "stages":
        latest = max(chosen, key=lambda r: r["end"])
        drawing = (lambda record, path: report.timeline(record, path, needs), latest)
        print(f"{latest['image']}:{latest['set']} {','.join(latest['platforms'])} "
              f"({latest['status']}, {latest['wall_seconds']:.0f} s, {latest['end']})")
        headers, rows = report.stage_table(latest, needs)
    elif request.view == "sequential":
        headers, rows = report.sequential_table(chosen)
    elif request.view == "sizes":
        headers, rows = report.size_table(chosen)
    elif request.view == "digests":
        headers, rows = report.digest_table(chosen)
    elif request.view == "bench":
        run_records = bench_table.latest_run(chosen)
        if run_records:
            print(f"bench {run_records[0]['bench']['id']}: {report.host_line(run_records[0])}")
            drawing = (report.bench_timeline, run_records)
        headers, rows = bench_table.summarise(run_records)
    else:
        headers, rows = report.build_table(chosen)
    print(report.render(headers, rows, request.format))
    if request.chart:
        if drawing is None:
            times_headers, times_rows = report.build_table(chosen)
            report.chart(times_headers, times_rows, request.chart)
        else:
            drawing[0](drawing[1], request.chart)
        print(f"wrote {request.chart}")
    if request.html:
        generated = datetime.now(timezone.utc).isoformat(timespec="seconds")
        request.html.write_text(report.html_page(chosen, cfg.settings.default_set, generated, needs))
        print(f"wrote {request.html}")
    return 0


def readme_table(reference: Path = REFERENCE) -> str:
    """The README's build-time table: what the tool renders from the committed records."""
    records = read_all([reference])
    headers, rows = report.build_table(records)
    hosts = sorted({report.host_line(r) for r in records})
    note = "\n".join(f"Host: {h}." for h in hosts)
    return f"{report.render(headers, rows, 'github')}\n\n{note}\n\nSeconds of wall time, cold (no build cache)."


README_CHART_TITLE = "Build time, cold (no build cache)"


def stage_needs(path: Path = DEFAULT_DOCKERFILE) -> dict[str, set[str]]:
    """Each stage's stages in the project's Dockerfile (its base and what it copies from), which the
    critical path follows; none when the Dockerfile cannot be read (timing alone then)."""
    try:
        return dockerfile.dependencies(path.read_text())
    except (OSError, ValueError):
        return {}


def readme_figures(default_set: str | None = None, reference: Path = REFERENCE) -> tuple[list, dict | None]:
    """What ``--readme`` draws from the committed records: [(path, figure)] for the build-time chart
    and, when a build has stage times, the timeline of ``report.timeline_record``; and that record."""
    records = read_all([reference])
    headers, rows = report.build_table(records)
    figures = [(CHART, report.chart_figure(headers, rows, title=README_CHART_TITLE))]
    record = report.timeline_record(records, default_set)
    if record is not None:
        figures.append((TIMELINE, report.timeline_figure(record, stage_needs())[0]))
    return figures, record


def write_readme(path: Path, default_set: str | None = None) -> int:
    try:
        text = path.read_text()
        path.write_text(report.readme_block(text, "build-times", readme_table()))
    except (OSError, ValueError) as exc:
        raise UsageError(f"{path}: {exc}") from None
    figures, record = readme_figures(default_set)
    for target, figure in figures:
        report.save(figure, target)
    print(f"wrote the build-time table of {REFERENCE.relative_to(ROOT)} into {path}, its chart to "
          f"{CHART.relative_to(ROOT)}"
          + (f" and the timeline of {report.display_name(record)} {','.join(record['platforms'])} to "
             f"{TIMELINE.relative_to(ROOT)}" if record else " (no build with stage times for a timeline)"))
    return 0
