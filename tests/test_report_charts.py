"""The charts people look at: the build-time chart, the timeline of one build and of a bench run,
the one-page HTML report, and the README's images drawn from the committed records."""

from __future__ import annotations

import io
import itertools
import re
from pathlib import Path

import numpy
import pytest
from matplotlib import image
from matplotlib.text import Text

from tools import cli, paths
from tools.commands import report as report_command
from tools.configuration import config
from tools.reporting import report
from tools.running import results, sampling

ROOT = Path(__file__).resolve().parent.parent
SERVER = {"name": "server", "platform": "amd64", "cpu": "AMD EPYC", "cores": 2, "memory_bytes": 24 * 2**30}
PI = {"name": "pi4", "platform": "armv7", "cpu": "ARMv7 Processor rev 3 (v7l)", "cores": 4, "memory_bytes": 4 * 2**30}
T0 = 1_800_000_000.0


def rec(image, platform, seconds, status="ok", compiler="native", host=SERVER, end="2026-01-01T00:00:00+00:00",
        **kw):
    return {"set": "1.10.1", "image": image, "platforms": [platform], "sequential": False, "host": host,
            "start": end, "end": end, "wall_seconds": seconds, "status": status, "compiler": compiler, **kw}


#: The README's case: a long label, one bar per image for the plugins, an emulated bar that dwarfs the rest.
ONE_HOST = [rec("orthanc", "amd64", 604.8), rec("orthanc", "arm64", 726.6, compiler="cross"),
            rec("orthanc", "armv7", 687.8, compiler="cross"), rec("orthanc", "armv7", 4907.2, compiler="emulated"),
            rec("orthanc-plugins", "amd64", 1102.9, without=["dicomweb", "webviewer", "wsi"])]
#: Several hosts, sequential builds, a failure and an OOM.
SEVERAL_HOSTS = [*ONE_HOST, rec("orthanc-plugins", "amd64", 1500.0),
                 rec("orthanc-plugins", "amd64", 2100.0, sequential=True),
                 rec("orthanc-plugins", "armv7", 9.0, status="OOM", compiler="emulated"),
                 rec("orthanc", "armv7", 3300.0, host=PI),
                 rec("orthanc-plugins", "armv7", 7000.0, host=PI, status="failed"),
                 rec("orthanc-plugins", "armv7", 6900.0, host=PI, sequential=True)]


@pytest.fixture
def drawn(monkeypatch):
    """Draw a figure and return the text artists actually drawn (visible, not empty, in view)."""
    def draw(figure) -> list[Text]:
        texts: list[Text] = []
        original = Text.draw

        def spy(self, renderer):
            if self.get_visible() and self.get_text().strip():
                texts.append(self)
            return original(self, renderer)
        monkeypatch.setattr(Text, "draw", spy)
        figure.canvas.draw()
        monkeypatch.setattr(Text, "draw", original)
        return texts
    return draw


def assert_readable(figure, texts: list[Text]) -> None:
    """No two texts overlap, and every text is inside the figure."""
    renderer = figure.canvas.get_renderer()
    boxes = [(text.get_text(), text.get_window_extent(renderer)) for text in texts]
    width, height = figure.canvas.get_width_height()
    for label, box in boxes:
        assert box.x0 >= -1 and box.y0 >= -1 and box.x1 <= width + 1 and box.y1 <= height + 1, \
            f"{label!r} leaves the figure: {box}"
    for (a, box_a), (b, box_b) in itertools.combinations(boxes, 2):
        overlap = (min(box_a.x1, box_b.x1) - max(box_a.x0, box_b.x0) > 1
                   and min(box_a.y1, box_b.y1) - max(box_a.y0, box_b.y0) > 1)
        assert not overlap, f"{a!r} overlaps {b!r}"


def strings(texts: list[Text]) -> list[str]:
    return [text.get_text() for text in texts]


@pytest.mark.parametrize("records", [ONE_HOST, SEVERAL_HOSTS], ids=["one host", "several hosts"])
def test_build_time_chart_text_never_overlaps(records, drawn):
    headers, rows = report.build_table(records)
    figure = report.chart_figure(headers, rows, title="Build time, cold")
    texts = drawn(figure)
    assert_readable(figure, texts)
    words = strings(texts)
    assert "4907 s" in words and "1103 s" in words  # values on the bars
    assert any("orthanc-plugins:1.10.1 (without dicomweb, webviewer, wsi)" in w.replace("\n", " ") for w in words)


def test_build_time_chart_names_the_host_once_and_colours_each_way_of_compiling(drawn):
    headers, rows = report.build_table(ONE_HOST)
    figure = report.chart_figure(headers, rows)
    words = strings(drawn(figure))
    host = "x86-64, 2 cores, 24 GiB"
    assert sum(w.count(host) for w in words) == 1 and host in figure.get_suptitle()
    assert {"native", "cross", "emulated"} <= set(words)  # the legend: ways, not hosts
    axes = figure.axes[0]
    bars = [patch for patch in axes.patches if patch.get_width() > 0]
    assert len(bars) == len(axes.get_yticklabels()) == 5
    by_way: dict[str, set] = {}
    for label, bar in zip(axes.get_yticklabels(), sorted(bars, key=lambda b: b.get_y())):
        by_way.setdefault(label.get_text().split(" ", 1)[1], set()).add(bar.get_facecolor())
    assert all(len(found) == 1 for found in by_way.values()) and len({c for f in by_way.values() for c in f}) == 3


def test_a_bar_that_dwarfs_the_rest_cuts_the_axis_with_a_note(drawn):
    headers, rows = report.build_table(ONE_HOST)
    figure = report.chart_figure(headers, rows)
    words = " ".join(strings(drawn(figure)))
    assert "Axis cut at" in words and "armv7 emulated 4907 s" in words
    assert figure.axes[0].get_xlim()[1] < 2000  # the other bars keep the width
    assert report.axis_cut([600, 700, 1100]) is None
    assert report.axis_cut([600, 700, 1100, 4907]) == pytest.approx(1100 * 1.3)


def test_several_hosts_are_told_apart_in_labels_and_a_caption(drawn):
    headers, rows = report.build_table(SEVERAL_HOSTS)
    figure = report.chart_figure(headers, rows)
    words = strings(drawn(figure))
    assert "armv7 native (B)" in words and "armv7 native, sequential (B)" in words
    assert any("A = x86-64, 2 cores, 24 GiB" in w and "B = armv7, 4 cores, 4 GiB" in w for w in words)
    assert "OOM" in words and "failed" in words


def stage(name, start, end, cached=False):
    return {"stage": name, "started": T0 + start, "completed": T0 + end, "seconds": end - start,
            "cached": cached, "steps": 2}


STAGES = [stage("builder-base", 0, 40), stage("runtime-base", 0, 9), stage("framework", 40, 570),
          stage("build-orthanc", 40, 1080), stage("plugin-base", 570, 570.1),
          stage("build-postgresql", 570, 900), stage("build-gdcm", 570, 670), stage("build-mysql", 570, 860),
          stage("build-wsi", 570, 570.2, cached=True), stage("orthanc", 1080, 1088),
          stage("orthanc-plugins", 1088, 1093)]


def memory_series(seconds=1100):
    """Memory rising with the stages that compile (1.5 GiB each), sampled twice a second."""
    baseline = 700 * 2**20
    samples = []
    for tick in range(seconds * 2):
        moment = T0 + tick / 2
        running = [s for s in STAGES if s["started"] <= moment < s["completed"] and s["seconds"] > 1]
        samples.append((tick / 2, baseline + len(running) * 1536 * 2**20))
    return sampling.series(samples, T0)


def build_record(**extra):
    return rec("orthanc-plugins", "amd64", 1093.0, set="1.13.0", stages=STAGES, no_cache=True,
               memory_baseline_bytes=700 * 2**20, memory_build_peak_bytes=3 * 1536 * 2**20, **extra)


def test_timeline_of_a_build_rows_stages_critical_path_and_memory(drawn):
    record = build_record(memory_series=memory_series())
    results.Record.from_dict(record)  # a record the results file takes
    figure, names = report.timeline_figure(record)
    texts = drawn(figure)
    assert_readable(figure, texts)
    assert names == [s["stage"] for s in sorted(STAGES, key=lambda s: (s["started"], s["stage"]))]
    stages_axes, memory_axes = figure.axes
    assert [label.get_text() for label in stages_axes.get_yticklabels()] == names
    bold = {label.get_text() for label in stages_axes.get_yticklabels() if label.get_fontweight() == "bold"}
    assert bold == set(report.critical_path(STAGES)) == {"builder-base", "build-orthanc", "orthanc",
                                                          "orthanc-plugins"}
    words = strings(texts)
    assert "cached" in words and "530 s" in words
    assert memory_axes.get_shared_x_axes().joined(memory_axes, stages_axes)  # one time axis
    title = memory_axes.get_title("left").replace("\n", " ")
    # The peak: four compiles at once, and which ones (what started or ended within that second too).
    assert "peak 6.7 GiB at 570 s, 6.0 GiB above the 0.7 GiB before the build" in title
    running = title.partition("running then: ")[2]
    assert {"build-orthanc", "build-postgresql", "build-gdcm", "build-mysql"} <= set(running.split(", "))
    assert "framework" not in running


def test_timeline_without_a_series_says_so(drawn):
    figure, names = report.timeline_figure(build_record())
    words = " ".join(strings(drawn(figure)))
    assert len(figure.axes) == 1 and len(names) == len(STAGES)
    assert "No memory series in this record" in words and "4.5 GiB above" in words


def test_timeline_of_a_scheduled_build_shows_its_jobs_and_the_limits(drawn):
    jobs = [{"target": "builder", "start": T0, "end": T0 + 570, "seconds": 570, "status": "ok", "cached": False,
             "memory_build_peak_bytes": 1.5 * 2**30},
            {"target": "build-orthanc", "start": T0 + 570, "end": T0 + 1080, "seconds": 510, "status": "ok"},
            {"target": "build-postgresql", "start": T0 + 570, "end": T0 + 900, "seconds": 330, "status": "OOM"},
            {"target": "orthanc-plugins", "start": T0 + 1080, "end": T0 + 1093, "seconds": 13, "status": "ok"}]
    record = build_record(jobs=jobs, compile_jobs=1, memory_series=memory_series(),
                          scheduler={"max_parallel": 2, "memory_budget_bytes": 3 * 2**30, "max_concurrent": 2})
    results.Record.from_dict(record)
    figure, _ = report.timeline_figure(record)
    texts = drawn(figure)
    assert_readable(figure, texts)
    jobs_axes, _, memory_axes = figure.axes
    assert jobs_axes.get_title("left") == ("Jobs (max-parallel 2, memory budget 3.0 GiB, 1 compile job per stage; "
                                           "at most 2 at once)")
    assert [label.get_text() for label in jobs_axes.get_yticklabels()] == [j["target"] for j in jobs]
    words = strings(texts)
    assert "330 s, OOM" in words and "570 s, peak 1.5 GiB" in words
    assert "budget: before the build + 3.0 GiB" in words  # the budget line, in the legend


def test_bench_run_timeline(drawn):
    run = [rec("orthanc", platform, seconds, compiler=how, end=end, start=start,
               bench={"id": "20260101T000000Z", "part": "cold", "run": 1, "label": f"{platform} {how}"})
           for platform, how, seconds, start, end in (
               ("armv7", "cross", 688.0, "2026-01-01T00:00:00+00:00", "2026-01-01T00:11:28+00:00"),
               ("amd64", "native", 605.0, "2026-01-01T00:12:00+00:00", "2026-01-01T00:22:05+00:00"))]
    run[1]["memory_series"] = {"started": results_epoch(run[1]["start"]), "step_seconds": 1.0,
                               "points": [[0, 800], [100, 2500], [605, 900]]}
    figure = report.bench_timeline_figure(run)
    texts = drawn(figure)
    assert_readable(figure, texts)
    assert [t.get_text() for t in figure.axes[0].get_yticklabels()] == ["cold 1: armv7 cross",
                                                                       "cold 1: amd64 native"]
    assert "peak 2.4 GiB at 820 s" in figure.axes[1].get_title("left")


def results_epoch(text: str) -> float:
    return report.epoch(text)


def test_the_readme_timeline_shows_the_default_sets_cold_plugins_build():
    plugins = build_record(end="2026-01-02T00:00:00+00:00")
    other_set = {**plugins, "set": "1.12.0", "end": "2026-01-03T00:00:00+00:00"}
    warm = {**plugins, "no_cache": False, "end": "2026-01-04T00:00:00+00:00"}
    cold_core = {**plugins, "image": "orthanc", "end": "2026-01-05T00:00:00+00:00"}
    records = [plugins, other_set, warm, cold_core]
    assert report.timeline_record(records, "1.13.0") is plugins
    assert report.timeline_record(records, "1.11.0") is cold_core  # none of the default set: the latest cold
    assert report.timeline_record([warm], "1.13.0") is warm  # no cold build: the latest with stage times
    assert report.timeline_record([{**warm, "stages": []}], "1.13.0") is None


def test_the_readme_timeline_draws_from_the_committed_records(tmp_path):
    """What `report --readme` draws into docs/build-timeline.png, from docs/build-times.jsonl."""
    records, damaged = results.read(paths.REFERENCE)
    assert records and not damaged
    record = report.timeline_record(records, config.load(paths.DEFAULT_CONFIG).settings.default_set)
    assert record is not None and record.get("no_cache")
    names = report.timeline(record, tmp_path / "timeline.png")
    assert names and sorted(names) == sorted(st["stage"] for st in record["stages"])
    assert (tmp_path / "timeline.png").read_bytes().startswith(b"\x89PNG")


def test_the_readme_images_are_readable_and_what_the_committed_records_draw(drawn):
    """docs/build-times.png and docs/build-timeline.png: no text overlaps, and each is what
    `report --readme` draws from docs/build-times.jsonl now (fails when either drifted)."""
    default_set = config.load(paths.DEFAULT_CONFIG).settings.default_set
    figures, record = report_command.readme_figures(default_set)
    assert [target for target, _ in figures] == [paths.CHART, paths.TIMELINE]
    # The timeline: a cold orthanc-plugins build of the default set, the whole image (no plugin left out).
    assert record is not None and (record["image"], record["set"]) == ("orthanc-plugins", default_set)
    assert record.get("no_cache") and not record.get("without") and not record.get("only_stages")
    for target, figure in figures:
        # The PNG first, as `--readme` saves it: a figure drawn once more can differ by antialiasing.
        fresh = image.imread(io.BytesIO(report.png_bytes(figure)), format="png")
        assert_readable(figure, drawn(figure))
        committed = image.imread(str(target))
        assert fresh.shape == committed.shape and numpy.array_equal(fresh, committed), \
            f"{target.relative_to(ROOT)} is stale: run `nox -s report -- --readme`"


def test_the_readme_shows_both_images_outside_the_generated_block():
    text = (ROOT / "README.md").read_text()
    block = text.split(report.README_START.format(name="build-times"), 1)[1].split(
        report.README_END.format(name="build-times"), 1)[0]
    for image in ("docs/build-times.png", "docs/build-timeline.png"):
        assert f"]({image})" in text and image not in block


def test_the_html_page_stands_alone():
    run = [{**build_record(memory_series=memory_series(), start="2026-01-01T00:00:00+00:00",
                           end="2026-01-01T00:18:13+00:00"),
            "bench": {"id": "20260101T000000Z", "part": "cold", "run": 1, "label": "amd64 native"}}]
    page = report.html_page([*ONE_HOST, *run], "1.13.0", "2026-01-02T00:00:00+00:00")
    assert page.startswith("<!DOCTYPE html>") and page.count("<table") == 3
    for name in ("build-times", "stages", "bench"):
        assert f'data-table="{name}"' in page
    images = re.findall(r'<img alt="[^"]+" src="([^"]+)"', page)
    assert len(images) == 3 and all(src.startswith("data:image/png;base64,") for src in images)
    assert not re.search(r'(src|href)="(https?:|//)', page)  # nothing fetched from elsewhere
    assert "orthanc-plugins (without dicomweb, webviewer, wsi)" in page


def test_report_command_draws_the_timeline_and_writes_the_page(tmp_path, capsys):
    results_file = tmp_path / "builds.jsonl"
    results.append(results_file, build_record(memory_series=memory_series()))
    chart, page = tmp_path / "build.png", tmp_path / "report.html"
    assert cli.main(["report", "--results", str(results_file), "--view", "stages", "--chart", str(chart),
                     "--html", str(page)]) == 0
    out = capsys.readouterr().out
    assert f"wrote {chart}" in out and f"wrote {page}" in out
    assert chart.read_bytes().startswith(b"\x89PNG") and "data:image/png;base64," in page.read_text()
    assert cli.main(["report", "--results", str(results_file), "--html", str(tmp_path)]) == 2
    assert "--html:" in capsys.readouterr().err
