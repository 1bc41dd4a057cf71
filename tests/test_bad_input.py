"""Every bad input the tools know of: one line on stderr, the right exit code, nothing started or written.

Each case runs ``python -m tools ...`` (or ``python -m tools.provision ...``) as a user would, in a
folder of its own, with a fake of every external program first on PATH: a fake records its call,
so "nothing started" is an empty record.  "Nothing written" is the case's folder unchanged, the
home folder and Docker's configuration folder (HOME, DOCKER_CONFIG) inside it.  The cases run at
once (they are independent processes) before the tests look at their outcomes.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pytest

import test_config
from tools.provisioning import programs

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "tests" / "fixture"
#: The real Dockerfile names the source contexts a build fetches (the fixture's names none).
DOCKERFILE = ROOT / "dockerfiles" / "Dockerfile"
GOOD = test_config.GOOD
#: Programs the fakes stand in for: every one the tools may start (not the shell, not Python).
FAKED = tuple(p.name for p in programs.PROGRAMS if p.name not in ("sh", "python3"))


def _record(**change) -> dict:
    record = {"set": "2.0.0", "image": "orthanc", "platforms": ["amd64"], "sequential": False,
              "host": {"name": "h", "platform": "amd64", "cores": 2, "memory_bytes": 2**34},
              "start": "2026-01-01T00:00:00+00:00", "end": "2026-01-01T00:10:00+00:00", "wall_seconds": 600.0,
              "status": "ok"}
    record.update(change)
    return record


GOOD_LINE = json.dumps(_record()) + "\n"


@dataclass
class Case:
    name: str
    argv: list[str]
    code: int
    message: str  # in the one line on stderr
    files: dict[str, str | Callable[[Path], None]] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    module: str = "tools"
    started: Callable[[list[str]], bool] = staticmethod(lambda calls: not calls)  # what may have run
    quiet: bool = False  # nothing on stdout either: the error came before any output
    prints: str = ""  # what stdout shows (a dry run's commands)
    xfail: str = ""


def _dir(path: Path) -> None:
    path.mkdir()


def _loop(path: Path) -> None:
    os.symlink(path.name + ".other", path)
    os.symlink(path.name, path.with_name(path.name + ".other"))


CREDENTIALS = {"REGISTRY_USER": "someone", "REGISTRY_PASSWORD": "secret-password"}
#: What the fake docker answers to ``buildx imagetools inspect`` when a case sets FAKE_INDEX to it:
#: every platform image of a set is in the registry.
INDEX = json.dumps({"manifests": [{"platform": {"os": "linux", "architecture": "amd64"}},
                                  {"platform": {"os": "linux", "architecture": "arm", "variant": "v7"}}]})


def _inspect_only(calls: list[str]) -> bool:
    return all(c.startswith("docker buildx imagetools inspect ") for c in calls)
BUILD = ["build", "--config", "versions.toml", "--set", "2.0.0", "--platform", "amd64", "--push",
         "--results", "r.jsonl", "--sources-dir", "sources", "--dockerfile", str(FIXTURE / "Dockerfile")]


def build(*extra: str, **kw) -> dict:
    return {"argv": [*BUILD, *extra], "files": {"versions.toml": GOOD}, "env": CREDENTIALS, **kw}


CASES: list[Case] = []

# 1. Every bad versions.toml of tests/test_config.py, given to a build that would push with credentials.
for _description, _change, _expected in test_config.BAD:
    CASES.append(Case(f"versions.toml: {_description}", BUILD, 2, _expected,
                      files={"versions.toml": _change(GOOD)}, env=CREDENTIALS))

CASES += [
    # The versions file itself.
    Case("versions.toml missing", ["validate", "--config", "versions.toml"], 2, "versions.toml: file not found"),
    Case("versions.toml a directory", ["validate", "--config", "versions.toml"], 2,
         "versions.toml: is a directory", files={"versions.toml": _dir}),
    Case("versions.toml a symlink loop", ["validate", "--config", "versions.toml"], 2,
         "versions.toml: cannot read (Too many levels of symbolic links", files={"versions.toml": _loop}),
    Case("--config empty", ["validate", "--config", ""], 2, "is a directory"),
    Case("build with versions.toml a directory", BUILD, 2, "versions.toml: is a directory",
         files={"versions.toml": _dir}, env=CREDENTIALS),
    Case("build with versions.toml a symlink loop", BUILD, 2,
         "versions.toml: cannot read (Too many levels of symbolic links", files={"versions.toml": _loop},
         env=CREDENTIALS),
    Case("report with versions.toml a directory", ["report", "--config", "versions.toml"], 2,
         "versions.toml: is a directory", files={"versions.toml": _dir}),
    Case("provision with versions.toml a directory", ["--config", "versions.toml"], 2,
         "versions.toml: is a directory", files={"versions.toml": _dir}, module="tools.provision"),
    Case("provision with an unknown platform", ["--config", "versions.toml", "--platform", "riscv64"], 2,
         "--platform: unknown platform 'riscv64'", files={"versions.toml": GOOD}, module="tools.provision"),
    Case("provision with an unknown distribution", ["--config", "versions.toml", "--dist", "sid"], 2,
         "--dist: unknown distribution 'sid'", files={"versions.toml": GOOD}, module="tools.provision"),

    # 3. Strict values on the command line.
    Case("--registry ending in a newline", **build("--registry", "127.0.0.1:5000\n"), code=2,
         message="--registry: malformed registry '127.0.0.1:5000\\n'"),
    Case("--registry empty", **build("--registry", ""), code=2, message="--registry: malformed registry ''"),
    Case("manifest --registry empty", ["manifest", "--config", "versions.toml", "--registry", "", "--dry-run"], 2,
         "--registry: malformed registry ''", files={"versions.toml": GOOD}, env=CREDENTIALS),
    Case("--platform ending in a newline", **build("--platform", "amd64\n"), code=2,
         message="platform 'amd64\\n' is not built for this set"),
    Case("an argument with a newline the parser refuses", ["smoke", "--config", "versions.toml", "extra\nword"], 2,
         "unrecognized arguments: extra\\nword", files={"versions.toml": GOOD}),
    Case("--namespace ending in a newline", **build("--namespace", "acme\n"), code=2,
         message="--namespace: malformed namespace 'acme\\n'"),
    Case("--base-registry ending in a newline", **build("--base-registry", "127.0.0.1:5000/library\n"), code=2,
         message="--base-registry: malformed registry path 'library\\n'"),
    Case("--base-registry a URL", **build("--base-registry", "http://127.0.0.1:5000"), code=2,
         message="--base-registry: malformed registry 'http://127.0.0.1:5000'"),
    Case("--no-cache-filter naming no stage", **build("--no-cache-filter", "build-orthanc,build-dcmtk"), code=2,
         message="--no-cache-filter: 'build-dcmtk' is not a stage of Dockerfile"),
    Case("--no-cache-filter empty", **build("--no-cache-filter", ""), code=2,
         message="--no-cache-filter: '' is not a stage of Dockerfile"),
    Case("--stage naming no stage", **build("--stage", "build-dcmtk"), code=2,
         message="--stage: 'build-dcmtk' is not a stage of Dockerfile"),
    Case("--set empty", **build("--set", ""), code=2, message="--set: empty set name"),
    Case("--set ending in a newline", **build("--set", "2.0.0\n"), code=2,
         message="set '2.0.0\\n': no such set"),
    Case("--memory-budget empty", **build("--memory-budget", ""), code=2, message="--memory-budget: empty size"),
    Case("--memory-budget ending in a newline", **build("--memory-budget", "3GiB\n"), code=2,
         message="--memory-budget: '3GiB\\n' is not a size"),
    Case("--platform the set does not build", **build("--platform", "riscv64"), code=2,
         message="platform 'riscv64' is not built for this set"),
    Case("--results a directory", **build("--results", "."), code=2, message="--results: . is a directory"),
    Case("bench --set empty", ["bench", "--config", "versions.toml", "--set", "", "--dry-run"], 2,
         "--set: empty set name", files={"versions.toml": GOOD}),
    Case("bench --memory-budget empty", ["bench", "--config", "versions.toml", "--memory-budget", "", "--dry-run"],
         2, "--memory-budget: empty size", files={"versions.toml": GOOD}),
    Case("smoke --set empty", ["smoke", "--config", "versions.toml", "--set", ""], 2, "--set: empty set name",
         files={"versions.toml": GOOD}),

    # 2. Dry runs log in to nothing, push nothing, make no folder and write no record.
    Case("manifest --dry-run with credentials", ["manifest", "--config", "versions.toml", "--dry-run"], 1,
         "manifest: no set has images in the registry", files={"versions.toml": GOOD}, env=CREDENTIALS,
         started=_inspect_only),
    Case("manifest --dry-run with credentials and the images pushed",
         ["manifest", "--config", "versions.toml", "--dry-run", "2.0.0"], 0, "", files={"versions.toml": GOOD},
         env={**CREDENTIALS, "FAKE_INDEX": INDEX}, started=lambda calls: _inspect_only(calls) and len(calls) == 4,
         prints="+ docker buildx imagetools create --tag 127.0.0.1:5000/fixture/orthanc-plugins:2.0.0 "),
    Case("build --dry-run with credentials", ["build", "--config", "versions.toml", "--set", "2.0.0",
                                               "--platform", "amd64", "--push", "--dry-run", "--results", "r.jsonl",
                                               "--sources-dir", "sources", "--dockerfile",
                                               str(DOCKERFILE)], 0, "",
         files={"versions.toml": GOOD}, env=CREDENTIALS, started=lambda calls: all(
             c.startswith(("git ", "docker context inspect ")) for c in calls)),
    Case("build --dry-run --without", ["build", "--config", "versions.toml", "--set", "2.0.0", "--platform", "amd64",
                                       "--image", "orthanc-plugins", "--without", "wsi", "--dry-run",
                                       "--results", "r.jsonl", "--sources-dir", "sources",
                                       "--dockerfile", str(DOCKERFILE)], 0, "",
         files={"versions.toml": GOOD}, started=lambda calls: all(
             c.startswith(("git ", "docker context inspect ")) for c in calls)),

    # 4. Damaged records: reported (one line), skipped; report and import go on.
    *[Case(f"report: {name}", ["report", "--config", "versions.toml", "--results", "r.jsonl"], 0, message,
           files={"versions.toml": GOOD, "r.jsonl": line + "\n"})
      for name, line, message in [
          ("wall_seconds a string", json.dumps(_record(wall_seconds="600")), "line 1: skipped, 'wall_seconds' not a"),
          ("wall_seconds null", json.dumps(_record(wall_seconds=None)), "line 1: skipped, 'wall_seconds' not a"),
          ("platforms a string", json.dumps(_record(platforms="amd64")), "line 1: skipped, 'platforms' not a list"),
          ("platforms null", json.dumps(_record(platforms=None)), "line 1: skipped, 'platforms' not a list"),
          ("host a string", json.dumps(_record(host="pi4")), "line 1: skipped, 'host' not an object"),
          ("stages malformed", json.dumps(_record(stages=[{"stage": "x", "started": "soon"}])),
           "line 1: skipped, 'stages' item 0"),
          ("NaN", json.dumps(_record(wall_seconds=float("nan"))), "line 1: skipped, not JSON (NaN"),
          ("100k-deep nesting", '{"set": ' + "[" * 100_000 + "]" * 100_000 + "}", "nested too deep"),
          ("wall_seconds a 400-digit number", json.dumps(_record(wall_seconds=10**400)),
           "line 1: skipped, 'wall_seconds' not a finite number"),
      ]],
    Case("report --view stages of a damaged record", ["report", "--config", "versions.toml", "--results", "r.jsonl",
                                                      "--view", "stages"], 0, "skipped, 'stages' not a list",
         files={"versions.toml": GOOD, "r.jsonl": json.dumps(_record(stages="fast")) + "\n"}),
    Case("import of a damaged record", ["import", "r.jsonl", "--into", "into.jsonl"], 0,
         "line 1: skipped, 'wall_seconds' not a", files={"r.jsonl": json.dumps(_record(wall_seconds="1")) + "\n"}),
    Case("import of a 100k-deep line", ["import", "r.jsonl", "--into", "into.jsonl"], 0,
         "line 1: skipped, not JSON (nested too deep)", files={"r.jsonl": "[" * 100_000 + "]" * 100_000 + "\n"}),
    Case("import of a NaN", ["import", "r.jsonl", "--into", "into.jsonl"], 0,
         "line 1: skipped, not JSON (NaN", files={"r.jsonl": json.dumps(_record(wall_seconds=float("nan"))) + "\n"}),

    # 5. import: all or nothing.
    Case("import from a missing file", ["import", "r.jsonl", "--into", "into.jsonl"], 2,
         "import: r.jsonl: no such file"),
    Case("import of a good file and a missing one", ["import", "good.jsonl", "missing.jsonl", "--into",
                                                      "into.jsonl"], 2, "import: missing.jsonl: no such file",
         files={"good.jsonl": GOOD_LINE}),

    # 6. File errors.
    Case("report --results a directory", ["report", "--config", "versions.toml", "--results", "d"], 2,
         "--results: d is a directory", files={"versions.toml": GOOD, "d": _dir}),
    Case("report --results empty", ["report", "--config", "versions.toml", "--results", ""], 2,
         "--results: . is a directory", files={"versions.toml": GOOD}),
    Case("report --results a symlink loop", ["report", "--config", "versions.toml", "--results", "r.jsonl"], 2,
         "--results: r.jsonl: Too many levels of symbolic links", files={"versions.toml": GOOD, "r.jsonl": _loop}),
    Case("report settings.results a directory", ["report", "--config", "versions.toml"], 2,
         "settings.results: ", files={"versions.toml": GOOD, "results": _dir,
                                      "results/builds.jsonl": _dir}),
    Case("import from a directory", ["import", "d", "--into", "into.jsonl"], 2, "import: d is a directory",
         files={"d": _dir}),
    Case("import into a directory", ["import", "good.jsonl", "--into", "d"], 2, "--into: d is a directory",
         files={"good.jsonl": GOOD_LINE, "d": _dir}),
    Case("import --config, which it does not read", ["import", "good.jsonl", "--into", "into.jsonl", "--config",
                                                     "versions.toml"], 2, "unrecognized arguments: --config",
         files={"good.jsonl": GOOD_LINE, "versions.toml": _dir}),
    Case("report --chart into a missing folder", ["report", "--config", "versions.toml", "--results", "good.jsonl",
                                                  "--chart", "charts/times.png"], 2,
         "--chart: charts is not a directory", files={"versions.toml": GOOD, "good.jsonl": GOOD_LINE}, quiet=True),
    Case("report --view stages --chart into a missing folder",
         ["report", "--config", "versions.toml", "--results", "good.jsonl", "--view", "stages", "--chart",
          "charts/timeline.png"], 2, "--chart: charts is not a directory",
         files={"versions.toml": GOOD, "good.jsonl": GOOD_LINE}, quiet=True),
    Case("report --html into a missing folder", ["report", "--config", "versions.toml", "--results", "good.jsonl",
                                                 "--html", "pages/report.html"], 2,
         "--html: pages is not a directory", files={"versions.toml": GOOD, "good.jsonl": GOOD_LINE}, quiet=True),
    Case("report --since unparsable", ["report", "--config", "versions.toml", "--results", "good.jsonl",
                                       "--since", "last week"], 2, "--since: 'last week' is not a date",
         files={"versions.toml": GOOD, "good.jsonl": GOOD_LINE}),
    Case("report --until unparsable", ["report", "--config", "versions.toml", "--results", "good.jsonl",
                                       "--until", "2026-02-30"], 2, "--until: '2026-02-30' is not a date",
         files={"versions.toml": GOOD, "good.jsonl": GOOD_LINE}),
    Case("import --since unparsable", ["import", "good.jsonl", "--into", "into.jsonl", "--since", "2026-1-1"], 2,
         "--since: '2026-1-1' is not a date", files={"good.jsonl": GOOD_LINE}),
    Case("lock an unknown distribution", ["lock", "--config", "versions.toml", "sid"], 2,
         "versions.toml: distribution 'sid' is not one of", files={"versions.toml": GOOD}),
    Case("build with a broken versions.lock", ["build", "--config", "versions.toml", "--set", "2.0.0",
                                              "--platform", "amd64", "--dockerfile", str(DOCKERFILE),
                                              "--sources-dir", "sources", "--dry-run"], 2,
         "versions.lock: distribution 'bookworm': key 'digest': not an image digest",
         files={"versions.toml": GOOD, "versions.lock": "[distributions.bookworm]\nimage = 'i'\ndigest = 'latest'\n"
                                                         "made = '2026-11-30'\n"}),
]


def _fakes(folder: Path) -> Path:
    folder.mkdir()
    for name in FAKED:
        fake = folder / name
        fake.write_text('#!/bin/sh\necho "$(basename "$0") $*" >> "$CALLS"\n'
                        'if [ "$(basename "$0") $1 $2 $3" = "docker buildx imagetools inspect" ] && [ -n "$FAKE_INDEX" ]; then\n'
                        '  printf %s "$FAKE_INDEX"; exit 0\nfi\nexit 1\n')
        fake.chmod(0o755)
    return folder


def _snapshot(folder: Path) -> dict[str, tuple]:
    found = {}
    for path in sorted(folder.rglob("*")):
        if path.name == "calls.log":
            continue
        info = path.lstat()
        found[str(path.relative_to(folder))] = (info.st_mode, info.st_size, info.st_mtime_ns)
    return found


@dataclass
class Outcome:
    code: int
    stdout: str
    stderr: list[str]
    calls: list[str]
    before: dict
    after: dict


def _run(case: Case, folder: Path, fakes: Path) -> Outcome:
    folder.mkdir()
    for name, content in case.files.items():
        target = folder / name
        if callable(content):
            content(target)
        else:
            target.write_text(content)
    calls = folder / "calls.log"
    calls.write_text("")
    (folder / "home" / ".docker").mkdir(parents=True)
    before = _snapshot(folder)
    env = {**os.environ, "PATH": f"{fakes}:{os.environ['PATH']}", "CALLS": str(calls), "PYTHONPATH": str(ROOT),
           "HOME": str(folder / "home"), "DOCKER_CONFIG": str(folder / "home" / ".docker")}
    for name in ("REGISTRY_USER", "REGISTRY_PASSWORD", "FAKE_INDEX"):
        env.pop(name, None)
    env.update(case.env)
    proc = subprocess.run([sys.executable, "-m", case.module, *case.argv], cwd=folder, env=env,
                          capture_output=True, text=True, timeout=120)
    return Outcome(proc.returncode, proc.stdout, proc.stderr.splitlines(), calls.read_text().splitlines(), before,
                   _snapshot(folder))


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory) -> dict[str, Outcome]:
    base = tmp_path_factory.mktemp("bad-input")
    fakes = _fakes(base / "bin")
    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        futures = {case.name: pool.submit(_run, case, base / f"case-{index}", fakes)
                   for index, case in enumerate(CASES)}
        return {name: future.result() for name, future in futures.items()}


def test_case_names_are_unique():
    assert len({case.name for case in CASES}) == len(CASES)


@pytest.mark.parametrize("case", [pytest.param(c, id=c.name, marks=[pytest.mark.xfail(reason=c.xfail, strict=True)]
                                               if c.xfail else []) for c in CASES])
def test_bad_input(case: Case, outcomes):
    outcome = outcomes[case.name]
    assert outcome.code == case.code, outcome.stderr
    if case.message:
        assert len(outcome.stderr) == 1, outcome.stderr
        assert case.message in outcome.stderr[0]
        assert "Traceback" not in outcome.stderr[0]
    else:
        assert outcome.stderr == []
    if case.quiet:
        assert outcome.stdout == ""
    assert case.prints in outcome.stdout
    assert case.started(outcome.calls), f"started: {outcome.calls}"
    assert not any(line.startswith("docker login") for line in outcome.calls)
    assert outcome.after == outcome.before, "the case changed files"
