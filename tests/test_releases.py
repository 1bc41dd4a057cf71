"""Upstream's releases and proposals of new sets: the pure parts, and the command against small
synthetic mirrors (tests/integration/test_releases.py runs it against a Mercurial server and the
real source mirror)."""

from __future__ import annotations

import hashlib
import io
import re
import subprocess
import sys
import tarfile
import tomllib
from pathlib import Path

import pytest

from tools.commands import release_sets
from tools.configuration import config
from tools.planning import releases
from tools.planning.releases import Mark, ReleaseError, Requirement

ROOT = Path(__file__).resolve().parent.parent


# --- versions -------------------------------------------------------------------------------


def test_versions_sort_as_versions_newest_first():
    assert releases.newest_first(["1.9.0", "1.12.10", "1.2", "1.12.9", "1.13.0", "1.12.10"]) == \
        ["1.13.0", "1.12.10", "1.12.9", "1.9.0", "1.2"]
    assert releases.newest_first(["1.5", "1.5.0"]) == ["1.5"]  # the same version once


def test_branches_are_filtered_by_the_components_template():
    branches = ["default", "OrthancPostgreSQL-6.2", "OrthancMySQL-5.2", "OrthancPostgreSQL-10.3",
                "OrthancPostgreSQL-7.2", "OrthancPostgreSQL-10.3-rc1", "OrthancPostgreSQL-", "OrthancPostgreSQL-1.",
                "xOrthancPostgreSQL-9.0", " OrthancPostgreSQL-2.0 "]
    assert releases.branch_versions(branches, "OrthancPostgreSQL-{version}") == ["10.3", "7.2", "6.2", "2.0"]
    assert releases.branch_versions(branches, "OrthancMySQL-{version}") == ["5.2"]
    assert releases.branch_versions(["Orthanc-1.12.10", "Orthanc-1.13.0", "Orthanc-1.9.7"],
                                    "Orthanc-{version}") == ["1.13.0", "1.12.10", "1.9.7"]


def test_marks_say_which_sets_pin_a_version_and_which_are_newer_than_every_pin():
    pinned = {"1.8": ["1.12.4", "1.12.7"], "1.5.0": ["1.10.1"], "1.2": ["1.9.0"]}
    assert releases.mark(["1.10", "1.9", "1.8", "1.5", "1.3"], pinned) == [
        Mark("1.10", (), True),
        Mark("1.9", (), True),
        Mark("1.8", ("1.12.4", "1.12.7"), False),
        Mark("1.5", ("1.10.1",), False),  # 1.5 and 1.5.0 are the same version
        Mark("1.3", (), False),
    ]
    assert releases.missing_pins(["1.10", "1.8", "1.5"], pinned) == {"1.2": ["1.9.0"]}


def test_pins_of_the_projects_versions_file():
    cfg = config.load(ROOT / "versions.toml")
    pinned = releases.pins(cfg, "gdcm")
    assert set(pinned) >= {"1.8"} and all(pinned.values())
    assert sum(len(sets) for sets in pinned.values()) == len(cfg.sets)


# --- what a plugin release builds against ---------------------------------------------------


def test_the_framework_version_a_plugin_downloads_by_default_is_its_requirement():
    files = {
        "CMakeLists.txt": (
            'if (ORTHANC_PLUGIN_VERSION STREQUAL "mainline")\n'
            '  set(ORTHANC_FRAMEWORK_DEFAULT_VERSION "mainline")\n'
            "else()\n"
            '  set(ORTHANC_FRAMEWORK_DEFAULT_VERSION "1.12.7")\n'
            "endif()\n"
            'set(ORTHANC_FRAMEWORK_VERSION "${ORTHANC_FRAMEWORK_DEFAULT_VERSION}" CACHE STRING "")\n'
            'SET(ORTHANC_SDK_VERSION "1.7.0" CACHE STRING "Version of the SDK")\n'),
        "Plugin/Plugin.cpp": "if (OrthancPluginCheckVersionAdvanced(context, 1, 12, 9) == 1) { /* optional */ }\n",
    }
    assert releases.read_requirement(files) == Requirement("1.12.7", "CMakeLists.txt: ORTHANC_FRAMEWORK_DEFAULT_VERSION")


def test_a_plugin_of_a_shared_repository_reads_its_own_folder_and_the_shared_ones():
    files = {
        "PostgreSQL/CMakeLists.txt": 'set(ORTHANC_SDK_DEFAULT_VERSION "1.12.3")\n'
                                     '  set(ORTHANC_FRAMEWORK_VERSION "1.12.3")\n',
        "MySQL/CMakeLists.txt": '  set(ORTHANC_FRAMEWORK_VERSION "1.13.0")\n',
        "SQLite/CMakeLists.txt": '  set(ORTHANC_FRAMEWORK_VERSION "1.99.0")\n',
        "Framework/Plugins/PluginInitialization.cpp":
            "if (OrthancPluginCheckVersionAdvanced(context, 0, 9, 5) == 0) { return false; }\n",
        "Resources/CMake/DatabasesPluginParameters.cmake": 'set(ORTHANC_SDK_VERSION "${ORTHANC_SDK_DEFAULT_VERSION}")\n',
        "Resources/Orthanc/CMake/Compiler.cmake": 'set(ORTHANC_FRAMEWORK_VERSION "1.50.0")\n',  # Orthanc's own copy
    }
    # On equal versions the framework's statement is the one named.
    assert releases.read_requirement(files, "PostgreSQL") == \
        Requirement("1.12.3", "PostgreSQL/CMakeLists.txt: ORTHANC_FRAMEWORK_VERSION")
    assert releases.read_requirement(files, "MySQL").version == "1.13.0"


def test_minimum_version_checks_in_the_code_count_when_they_refuse_to_load():
    files = {
        "Plugin.cpp": ("#define ORTHANC_PLUGINS_MINIMAL_MAJOR_NUMBER     1\n"
                       "#define ORTHANC_PLUGINS_MINIMAL_MINOR_NUMBER     11\n"
                       "#define ORTHANC_PLUGINS_MINIMAL_REVISION_NUMBER  2\n"),
        "Other.cpp": "if (!OrthancPluginCheckVersionAdvanced(OrthancPlugins::GetGlobalContext(), 1, 12, 1))\n",
        "Feature.cpp": "if (OrthancPluginCheckVersionAdvanced(GetContext(), 1, 13, 0) == 1) { fast(); }\n",
        "README": 'set(ORTHANC_FRAMEWORK_VERSION "9.9.9")\n',  # not a source file
    }
    assert releases.read_requirement(files) == Requirement("1.12.1", "Other.cpp: OrthancPluginCheckVersionAdvanced")
    del files["Other.cpp"]
    assert releases.read_requirement(files) == Requirement("1.11.2", "Plugin.cpp: ORTHANC_PLUGINS_MINIMAL_*_NUMBER")
    assert releases.read_requirement({"CMakeLists.txt": "project(x)\n"}) is None


def test_a_plugin_needing_a_newer_orthanc_is_a_conflict():
    needs = {"dicomweb": ("1.24", Requirement("1.13.0", "CMakeLists.txt: ORTHANC_FRAMEWORK_DEFAULT_VERSION")),
             "gdcm": ("1.8", Requirement("1.12.3", "CMakeLists.txt: ORTHANC_FRAMEWORK_DEFAULT_VERSION")),
             "wsi": ("3.3", None)}
    assert releases.conflicts("1.13.0", needs) == []
    assert releases.conflicts("1.12.10", needs) == [
        "dicomweb 1.24 needs Orthanc 1.13.0 or newer (CMakeLists.txt: ORTHANC_FRAMEWORK_DEFAULT_VERSION), "
        "the set has Orthanc 1.12.10"]


def _tarball(path: Path, top: str, files: dict[str, str]) -> None:
    with tarfile.open(path, "w:gz") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(f"{top}/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def test_archive_files_are_read_below_the_top_folder_without_vendored_copies(tmp_path):
    _tarball(tmp_path / "a.tar.gz", "OrthancGdcm-1.8", {
        "CMakeLists.txt": "x", "Resources/Orthanc/CMake/Compiler.cmake": "y", "Plugin/Plugin.cpp": "z",
        "NEWS": "n", "Resources/CMake/GdcmConfiguration.cmake": "w"})
    assert releases.archive_files(tmp_path / "a.tar.gz") == {
        "CMakeLists.txt": "x", "Plugin/Plugin.cpp": "z", "Resources/CMake/GdcmConfiguration.cmake": "w"}
    (tmp_path / "bad.tar.gz").write_bytes(b"not a tarball")
    with pytest.raises(ReleaseError, match="not a readable tarball"):
        releases.archive_files(tmp_path / "bad.tar.gz")


def test_sums_and_cache_names():
    digest = "a" * 64
    assert releases.parse_sums(f"{digest}  Orthanc-1.13.0.tar.gz\n{digest} *OrthancWSI-3.3.tar.gz\nnoise\n") == \
        {"Orthanc-1.13.0.tar.gz": digest, "OrthancWSI-3.3.tar.gz": digest}
    a = releases.cache_name("https://orthanc.uclouvain.be/hg/orthanc-databases/")
    assert a.startswith("orthanc-databases-") and a != releases.cache_name("http://127.0.0.1:8000/orthanc-databases/")


# --- a new set in the text of versions.toml -------------------------------------------------

PINS = {"orthanc": "1.13.1", "postgresql": "10.4", "mysql": "5.3", "dicomweb": "1.25", "gdcm": "1.8",
        "webviewer": "2.10", "wsi": "3.3"}
TEXT = """# Sets, with comments that stay where they are.
[settings]
registry = "127.0.0.1:5000"   # a trailing comment

[sets."1.12.7"]
base = "trixie"
orthanc = { version = "1.12.7", debian = "1.12.7+dfsg-4" }

# The comment of the next set, which stays above it.
[sets."1.9.0"]
base   =   "bullseye"
orthanc = "1.9.0"
# a last comment
"""


def test_the_new_table_is_rendered_by_tomlkit():
    table = releases.table_text("1.13.1", "trixie", None, PINS)
    assert table.splitlines()[0] == '[sets."1.13.1"]'
    assert tomllib.loads(table) == {"sets": {"1.13.1": {"base": "trixie", **PINS}}}
    with_platforms = releases.table_text("x", "trixie", ["amd64", "arm64"], {"orthanc": "1.13.1"})
    assert 'platforms = ["amd64", "arm64"]' in with_platforms


def test_insertion_keeps_every_byte_and_puts_the_table_after_the_named_set():
    table = releases.table_text("1.13.1", "trixie", None, PINS)
    new = releases.insert_set(TEXT, "1.12.7", "1.13.1", table)
    cut = TEXT.index("\n# The comment of the next set")  # the blank line above that comment
    assert new == TEXT[:cut] + "\n" + table + TEXT[cut:]  # nothing else moved or changed
    assert list(tomllib.loads(new)["sets"]) == ["1.12.7", "1.13.1", "1.9.0"]
    # After the last table: after its last key, its trailing comment below the new table.
    new = releases.insert_set(TEXT, "1.9.0", "1.13.1", table)
    assert new == TEXT.replace('orthanc = "1.9.0"\n', 'orthanc = "1.9.0"\n\n' + table)


def test_insertion_keeps_crlf_and_a_missing_last_newline():
    text = TEXT.replace("\n", "\r\n").removesuffix("# a last comment\r\n").removesuffix("\r\n")
    table = releases.table_text("1.13.1", "trixie", None, PINS, newline="\r\n")
    new = releases.insert_set(text, "1.9.0", "1.13.1", table)
    assert new == text + "\r\n\r\n" + table
    assert "\n" not in new.replace("\r\n", "")


def test_insertion_refuses_when_it_cannot_place_the_table_safely():
    table = releases.table_text("1.13.1", "trixie", None, PINS)
    with pytest.raises(ReleaseError, match="no \\[sets.\"2.0\"\\] table header"):
        releases.insert_set(TEXT, "2.0", "1.13.1", table)
    with pytest.raises(ReleaseError, match="does not read as TOML"):  # a set of that name exists
        releases.insert_set(TEXT, "1.12.7", "1.9.0", releases.table_text("1.9.0", "trixie", None, PINS))


# --- the command, against a small synthetic mirror ------------------------------------------

#: What the synthetic upstream has: branch -> the framework version its CMake file asks for.
UPSTREAM = {
    "Orthanc-1.12.7": None, "Orthanc-1.12.10": None, "Orthanc-1.13.0": None,
    "OrthancPostgreSQL-6.2": "1.12.3", "OrthancPostgreSQL-10.3": "1.13.0",
    "OrthancMySQL-5.2": "1.12.4",
    "OrthancDicomWeb-1.20": "1.12.5", "OrthancDicomWeb-1.24": "1.13.0",
    "OrthancGdcm-1.8": "1.12.3",
    "OrthancWebViewer-2.10": "1.12.7",
    "OrthancWSI-3.2": "1.12.7", "OrthancWSI-3.3": "1.12.9",
}
VERSIONS = """[settings]
registry = "127.0.0.1:5000"
namespace = "orthanc"
base_registry = ""
default_set = "1.12.7"
default_image = "orthanc"
results = "results/builds.jsonl"
aliases = []

[platforms]
amd64 = "linux/amd64"
arm64 = "linux/arm64"

[distributions.trixie]
image = "debian:trixie-slim"

[components.orthanc]
repository = "https://hg.example.org/orthanc/"
branch = "Orthanc-{version}"
[components.postgresql]
repository = "https://hg.example.org/orthanc-databases/"
subdir = "PostgreSQL"
branch = "OrthancPostgreSQL-{version}"
[components.mysql]
repository = "https://hg.example.org/orthanc-databases/"
subdir = "MySQL"
branch = "OrthancMySQL-{version}"
[components.dicomweb]
repository = "https://hg.example.org/orthanc-dicomweb/"
branch = "OrthancDicomWeb-{version}"
[components.gdcm]
repository = "https://hg.example.org/orthanc-gdcm/"
branch = "OrthancGdcm-{version}"
[components.webviewer]
repository = "https://hg.example.org/orthanc-webviewer/"
branch = "OrthancWebViewer-{version}"
[components.wsi]
repository = "https://hg.example.org/orthanc-wsi/"
branch = "OrthancWSI-{version}"

# The one set so far.
[sets."1.12.7"]
base = "trixie"
platforms = ["amd64"]   # only this one
orthanc = { version = "1.12.7", debian = "1.12.7+dfsg-4" }
postgresql = "6.2"
mysql = "5.2"
dicomweb = "1.20"
gdcm = "1.8"
webviewer = "2.10"
wsi = "3.2"
"""


def _cmake(branch: str, framework: str | None) -> dict[str, str]:
    if framework is None:
        return {"OrthancServer/CMakeLists.txt": "project(Orthanc)\n"}
    statement = f'set(ORTHANC_FRAMEWORK_DEFAULT_VERSION "{framework}")\n'
    if branch.startswith("OrthancPostgreSQL"):
        return {"PostgreSQL/CMakeLists.txt": statement, "MySQL/CMakeLists.txt": 'set(ORTHANC_FRAMEWORK_VERSION "9.0")\n'}
    if branch.startswith("OrthancMySQL"):
        return {"MySQL/CMakeLists.txt": statement, "PostgreSQL/CMakeLists.txt": 'set(ORTHANC_FRAMEWORK_VERSION "9.0")\n'}
    return {"CMakeLists.txt": statement}


@pytest.fixture
def mirror(tmp_path) -> Path:
    folder = tmp_path / "mirror"
    folder.mkdir()
    lines = []
    for branch, framework in UPSTREAM.items():
        archive = folder / f"{branch}.tar.gz"
        _tarball(archive, branch, _cmake(branch, framework))
        lines.append(f"{hashlib.sha256(archive.read_bytes()).hexdigest()}  {archive.name}\n")
    (folder / "SHA256SUMS").write_text("".join(lines))
    return folder


@pytest.fixture
def versions(tmp_path) -> Path:
    path = tmp_path / "project" / "versions.toml"
    path.parent.mkdir()
    path.write_text(VERSIONS)
    return path


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = release_sets.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_releases_lists_every_component_newest_first_with_marks(capsys, mirror, versions):
    code, out, err = run(capsys, "releases", "--config", str(versions), "--mirror", str(mirror))
    assert code == 0 and err == ""
    lines = out.splitlines()
    start = lines.index(next(line for line in lines if line.startswith("orthanc (")))
    assert lines[start:start + 4] == [
        f"orthanc (mirror {mirror}, Orthanc-*): 3 releases",
        "  1.13.0   new: newer than every pin",
        "  1.12.10  new: newer than every pin",
        "  1.12.7   pinned by 1.12.7",
    ]
    assert "mysql (mirror" in out and "  5.2  pinned by 1.12.7" in out
    assert "  10.3  new: newer than every pin" in out and "  6.2   pinned by 1.12.7" in out


def test_releases_reports_an_unreachable_mirror_in_one_line_per_component(capsys, tmp_path, versions):
    code, out, _ = run(capsys, "releases", "--config", str(versions), "--mirror", str(tmp_path / "nowhere"))
    assert code == release_sets.EXIT_UNREACHABLE
    assert len(out.splitlines()) == len(config.COMPONENTS)
    assert all(re.fullmatch(r"\w+: file:///.*/nowhere/SHA256SUMS not readable \(.*\)", line) for line in out.splitlines())


def test_propose_writes_the_newest_releases_after_the_newest_set(capsys, mirror, versions):
    code, out, err = run(capsys, "propose", "--config", str(versions), "--mirror", str(mirror))
    assert code == 0, err
    new = versions.read_text()
    table = ('\n[sets."1.13.0"]\nbase = "trixie"\nplatforms = ["amd64"]\northanc = "1.13.0"\n'
             'postgresql = "10.3"\nmysql = "5.2"\ndicomweb = "1.24"\ngdcm = "1.8"\nwebviewer = "2.10"\nwsi = "3.3"\n')
    assert new == VERSIONS + table
    assert config.load(versions).sets["1.13.0"].pins["dicomweb"].version == "1.24"
    assert "# nox -s build-1.13.0-amd64" in out  # the plan of its builds
    for step in ("nox -s build-1.13.0-amd64", "nox -s smoke-1.13.0-amd64",
                 "nox -s build-1.13.0-amd64 -- --push", "nox -s manifest -- 1.13.0"):
        assert f"  {step}\n" in out
    assert "dicomweb   1.24  (builds against Orthanc 1.13.0 or newer: CMakeLists.txt" in out
    # Run again: nothing newer.
    code, out, _ = run(capsys, "propose", "--config", str(versions), "--mirror", str(mirror))
    assert code == 0
    assert out == "set 1.13.0 already pins the newest release of every component: nothing to propose\n"
    assert versions.read_text() == new


def test_a_dry_run_prints_the_diff_and_writes_nothing(capsys, mirror, versions):
    code, out, _ = run(capsys, "propose", "--config", str(versions), "--mirror", str(mirror), "--dry-run",
                       "--name", "next")
    assert code == 0
    assert versions.read_text() == VERSIONS
    diff = out[out.index("--- a/versions.toml"):out.index("(dry run")]
    changed = [line for line in diff.splitlines()[2:] if line[:1] in "+-" and line]
    assert changed[0] == "+" and changed[1] == '+[sets."next"]' and all(line.startswith("+") for line in changed)


def test_an_incompatible_combination_is_refused_in_one_line(capsys, mirror, versions):
    code, out, err = run(capsys, "propose", "--config", str(versions), "--mirror", str(mirror),
                         "--pin", "orthanc=1.12.10")
    assert code == 2 and versions.read_text() == VERSIONS
    assert len(err.splitlines()) == 1
    assert err.startswith("error: refused, this set cannot build: postgresql 10.3 needs Orthanc 1.13.0 or newer "
                          "(PostgreSQL/CMakeLists.txt: ORTHANC_FRAMEWORK_DEFAULT_VERSION), the set has Orthanc 1.12.10; "
                          "dicomweb 1.24 needs Orthanc 1.13.0")
    assert "(the newest releases that build with it: --pin postgresql=6.2 --pin dicomweb=1.20)" in err
    # Those pins make a set that builds.
    code, _, err = run(capsys, "propose", "--config", str(versions), "--mirror", str(mirror), "--dry-run",
                       "--pin", "orthanc=1.12.10", "--pin", "postgresql=6.2", "--pin", "dicomweb=1.20")
    assert code == 0, err


def test_a_source_that_cannot_be_read_is_named(capsys, mirror, versions):
    (mirror / "OrthancWSI-3.3.tar.gz").write_bytes(b"changed")  # no longer its SHA256SUMS
    code, out, err = run(capsys, "propose", "--config", str(versions), "--mirror", str(mirror), "--dry-run")
    assert code == 0
    assert "wsi        3.3  (compatibility not checked:" in out
    assert "warning: wsi 3.3: file:///" in err and "checksum mismatch" in err


@pytest.mark.parametrize("argv, message", [
    (["--pin", "orthanc"], "--pin 'orthanc': want COMPONENT=VERSION"),
    (["--pin", "dcm4chee=1.0"], "--pin 'dcm4chee=1.0': want COMPONENT=VERSION"),
    (["--pin", "wsi=3.x"], "malformed version"),
    (["--pin", "wsi=3.3", "--pin", "wsi=3.2"], "--pin: wsi given twice"),
    (["--pin", "wsi=9.9"], "--pin wsi=9.9: no such release in mirror"),
    (["--from", "0.1"], "set '0.1': no such set"),
    (["--name", "1.12.7.0"], "set '1.12.7' exists already and pins other versions: choose another --name"),
    (["--pin", "orthanc=1.12.7", "--pin", "wsi=3.3"],
     "set '1.12.7' exists already and pins other versions: name the new set with --name"),
    (["--name", "bad name"], "the proposal does not validate: versions.toml: set 'bad name': set name must be"),
    (["--mirror", ""], "--mirror: empty location"),
])
def test_bad_input_is_one_line_exit_2_and_nothing_written(capsys, mirror, versions, argv, message):
    if "--mirror" not in argv:
        argv = [*argv, "--mirror", str(mirror)]
    code, _, err = run(capsys, "propose", "--config", str(versions), *argv)
    assert code == 2
    assert len(err.splitlines()) == 1 and err.startswith("error: ") and message in err, err
    assert versions.read_text() == VERSIONS


def test_nothing_reachable_is_an_error(capsys, tmp_path, versions):
    code, _, err = run(capsys, "propose", "--config", str(versions), "--mirror", str(tmp_path / "nowhere"))
    assert code == 2 and err.startswith("error: no component's releases could be read: orthanc: ")
    assert len(err.splitlines()) == 1 and versions.read_text() == VERSIONS


def test_a_file_changed_meanwhile_is_not_overwritten(tmp_path):
    path = tmp_path / "versions.toml"
    path.write_text("new\n")
    with pytest.raises(ReleaseError, match="changed while the proposal was made"):
        release_sets._write(path, b"old\n", "proposal\n")
    assert path.read_text() == "new\n" and [p.name for p in tmp_path.iterdir()] == ["versions.toml"]


def test_nox_lists_both_sessions():
    proc = subprocess.run([sys.executable, "-m", "nox", "-l"], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "- releases -> " in proc.stdout and "- propose -> " in proc.stdout
