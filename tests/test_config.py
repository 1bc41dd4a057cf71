"""versions.toml validation: good files load, every bad file gets its one-line error."""

import subprocess
import sys
from pathlib import Path

import pytest

from tools.configuration import config
from tools.configuration.config import ConfigError

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "tests" / "fixture" / "versions.toml"
GOOD = FIXTURE.read_text()


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "versions.toml"
    path.write_text(text)
    return path


def test_project_versions_file_is_valid():
    cfg = config.load(ROOT / "versions.toml")
    assert {"1.9.0", "1.10.1", "1.12.4", "1.12.7", "1.13.0"} <= set(cfg.sets)
    assert cfg.sets["1.10.1"].base == "bookworm"
    assert cfg.sets["1.12.7"].base == "trixie"
    assert cfg.platforms == {"amd64": "linux/amd64", "arm64": "linux/arm64", "armv7": "linux/arm/v7"}
    expected = {  # what the Orthanc team shipped together
        "1.9.0": ("3.3", "3.0", "1.5", "1.2", "2.7", "1.0"),
        "1.10.1": ("4.0", "4.3", "1.7", "1.5", "2.8", "1.1"),
        "1.12.4": ("6.2", "5.2", "1.17", "1.8", "2.9", "2.1"),
        # Debian trixie shipped PostgreSQL and MySQL 5.0, whose sources cannot be had here:
        # re-pinned to the nearest releases that can (versions.toml says so).
        "1.12.7": ("6.2", "5.2", "1.20", "1.8", "2.10", "3.2"),
        "1.13.0": ("10.3", "5.2", "1.24", "1.8", "2.10", "3.3"),
    }
    for name, versions in expected.items():
        pins = cfg.sets[name].pins
        assert pins["orthanc"].version == name
        assert tuple(pins[c].version for c in config.COMPONENTS[1:]) == versions
    assert cfg.sets["1.9.0"].pins["postgresql"].branch == "OrthancPostgreSQL-3.3"
    assert cfg.sets["1.9.0"].pins["orthanc"].branch == "Orthanc-1.9.0"
    assert cfg.sets["1.10.1"].pins["orthanc"].debian == "1.10.1+dfsg-2+deb12u1"
    assert cfg.components["mysql"].subdir == "MySQL"


def test_sets_order_by_version_not_text():
    cfg = config.load(ROOT / "versions.toml")
    names = [s.name for s in cfg.sorted_sets()]
    assert names == ["1.9.0", "1.10.1", "1.12.4", "1.12.7", "1.13.0"]


def test_base_image_uses_base_registry():
    cfg = config.load(FIXTURE)
    release = cfg.sets["2.0.0"]
    assert cfg.base_image(release) == "127.0.0.1:5000/library/debian:bookworm-slim"
    assert cfg.base_image(release, "") == "debian:bookworm-slim"
    assert cfg.base_image(release, "docker.io/library") == "docker.io/library/debian:bookworm-slim"


# (description, transformation of the good text, expected error text)
BAD = [
    ("not TOML", lambda t: t + "\n[sets.\n", "versions.toml: not valid TOML"),
    ("duplicate set table", lambda t: t + '\n[sets."2.0.0"]\nbase = "bookworm"\n',
     "versions.toml: set '2.0.0': duplicate set"),
    ("duplicate set, same version spelled otherwise",
     lambda t: t + '\n[sets."2.0"]\n' + t.split('[sets."2.0.0"]\n')[1].split("\n\n")[0] + "\n",
     "versions.toml: set '2.0': duplicate set: same as set '2.0.0'"),
    ("unknown component in a set", lambda t: t.replace('wsi = "9.6"', 'wsi = "9.6"\nneuro = "1.0"'),
     "versions.toml: set '2.0.0': key 'neuro': unknown component or key"),
    ("missing component in a set", lambda t: t.replace('gdcm = "9.4"\n', "", 1),
     "versions.toml: set '2.0.0': key 'gdcm': missing component"),
    ("unknown component table", lambda t: t + '\n[components.neuro]\nrepository = "https://x/"\nbranch = "N-{version}"\n',
     "versions.toml: components: key 'neuro': unknown component"),
    ("missing component table", lambda t: t.replace("[components.gdcm]", "[components_gdcm]"),
     "versions.toml: top level: key 'components_gdcm': unknown table"),
    ("component table removed", lambda t: t.replace(
        '[components.gdcm]\nrepository = "https://orthanc.uclouvain.be/hg/orthanc-gdcm/"\nbranch = "OrthancGdcm-{version}"\n', ""),
     "versions.toml: components: key 'gdcm': missing component"),
    ("malformed version", lambda t: t.replace('postgresql = "9.1"', 'postgresql = "9.x"', 1),
     "versions.toml: set '2.0.0': key 'postgresql': malformed version '9.x'"),
    ("version with a v", lambda t: t.replace('orthanc = "2.0.0"', 'orthanc = "v2.0.0"'),
     "versions.toml: set '2.0.0': key 'orthanc': malformed version 'v2.0.0'"),
    ("version as a number", lambda t: t.replace('postgresql = "9.1"', "postgresql = 9.1", 1),
     "versions.toml: set '2.0.0': key 'postgresql': expected a version string or a table, got a number"),
    ("malformed sha256", lambda t: t.replace('gdcm = "9.4"', 'gdcm = { version = "9.4", sha256 = "ABC" }', 1),
     "versions.toml: set '2.0.0': key 'gdcm.sha256': malformed sha256 'ABC' (want 64 lower-case hex digits)"),
    ("tarball without sha256", lambda t: t.replace(
        'gdcm = "9.4"', 'gdcm = { version = "9.4", tarball = "https://mirror.example.org/g.tar.gz" }', 1),
     "versions.toml: set '2.0.0': key 'gdcm.tarball': a tarball needs its sha256 pinned beside it"),
    ("malformed tarball URL", lambda t: t.replace(
        'gdcm = "9.4"', 'gdcm = { version = "9.4", sha256 = "' + "a" * 64 + '", tarball = "mirror/g.tar.gz" }', 1),
     "versions.toml: set '2.0.0': key 'gdcm.tarball': malformed tarball URL 'mirror/g.tar.gz'"),
    ("tarball template without version", lambda t: t.replace(
        'branch = "OrthancGdcm-{version}"', 'branch = "OrthancGdcm-{version}"\ntarball = "https://x.org/g.tar.gz"'),
     "versions.toml: component 'gdcm': key 'tarball': malformed tarball URL 'https://x.org/g.tar.gz': "
     "needs exactly one {version}"),
    ("pin table without version", lambda t: t.replace('mysql = "9.2"', 'mysql = { debian = "9.2-1" }', 1),
     "versions.toml: set '2.0.0': key 'mysql.version': missing"),
    ("pin table with unknown key", lambda t: t.replace('mysql = "9.2"', 'mysql = { version = "9.2", tag = "x" }', 1),
     "versions.toml: set '2.0.0': key 'mysql.tag': unknown key"),
    ("Debian version of another upstream", lambda t: t.replace('mysql = "9.2"', 'mysql = { version = "9.2", debian = "9.3-1" }', 1),
     "versions.toml: set '2.0.0': key 'mysql.debian': Debian version '9.3-1' is not of upstream version 9.2"),
    ("malformed Debian version", lambda t: t.replace('mysql = "9.2"', 'mysql = { version = "9.2", debian = "9.2" }', 1),
     "versions.toml: set '2.0.0': key 'mysql.debian': malformed Debian version '9.2'"),
    ("branch template without version", lambda t: t.replace('branch = "OrthancGdcm-{version}"', 'branch = "OrthancGdcm"'),
     "versions.toml: component 'gdcm': key 'branch': malformed branch 'OrthancGdcm'"),
    ("branch template with a space", lambda t: t.replace('branch = "OrthancGdcm-{version}"', 'branch = "Orthanc Gdcm-{version}"'),
     "versions.toml: component 'gdcm': key 'branch': malformed branch template"),
    ("branch template with another field", lambda t: t.replace('"OrthancGdcm-{version}"', '"OrthancGdcm-{major}.{version}"'),
     "versions.toml: component 'gdcm': key 'branch': malformed branch"),
    ("repository not a URL", lambda t: t.replace('"https://orthanc.uclouvain.be/hg/orthanc-wsi/"', '"orthanc-wsi"'),
     "versions.toml: component 'wsi': key 'repository': malformed repository URL"),
    ("component without repository", lambda t: t.replace('repository = "https://orthanc.uclouvain.be/hg/orthanc-wsi/"\n', ""),
     "versions.toml: component 'wsi': key 'repository': missing"),
    ("unknown platform in a set", lambda t: t.replace('platforms = ["amd64", "armv7"]', 'platforms = ["amd64", "riscv64"]'),
     "versions.toml: set '2.0.0': key 'platforms': unknown platform 'riscv64'"),
    ("platform listed twice", lambda t: t.replace('platforms = ["amd64", "armv7"]', 'platforms = ["amd64", "amd64"]'),
     "versions.toml: set '2.0.0': key 'platforms': a platform is listed twice"),
    ("platforms not strings", lambda t: t.replace('platforms = ["amd64", "armv7"]', 'platforms = [1, 2]'),
     "versions.toml: set '2.0.0': key 'platforms': expected a string, got an integer"),
    ("malformed OCI platform", lambda t: t.replace('armv7 = "linux/arm/v7"', 'armv7 = "linux-arm-v7"'),
     "versions.toml: platforms: key 'armv7': malformed platform"),
    ("unknown distribution", lambda t: t.replace('base = "bookworm"\nplatforms', 'base = "buster"\nplatforms'),
     "versions.toml: set '2.0.0': key 'base': unknown distribution 'buster'"),
    ("set without base", lambda t: t.replace('base = "bookworm"\nplatforms', 'platforms'),
     "versions.toml: set '2.0.0': key 'base': missing"),
    ("set name with a slash", lambda t: t.replace('[sets."2.1.0"]', '[sets."2.1/0"]'),
     "versions.toml: set '2.1/0': set name must be"),
    ("set name with a space", lambda t: t.replace('[sets."2.1.0"]', '[sets."2.1 beta"]'),
     "versions.toml: set '2.1 beta': set name must be"),
    ("set name with a leading dot", lambda t: t.replace('[sets."2.1.0"]', '[sets.".2"]'),
     "versions.toml: set '.2': set name must be"),
    ("set name ending like a platform", lambda t: t.replace('[sets."2.1.0"]', '[sets."2.1.0-armv7"]'),
     "versions.toml: set '2.1.0-armv7': set name must not end in '-armv7'"),
    ("set name ending in -sequential", lambda t: t.replace('[sets."2.1.0"]', '[sets."2.1.0-sequential"]'),
     "versions.toml: set '2.1.0-sequential': set name must not end in '-sequential'"),
    ("set name too long", lambda t: t.replace('[sets."2.1.0"]', '[sets."' + "1" * 120 + '"]'),
     "set name must be"),
    ("set named latest", lambda t: t.replace('[sets."2.1.0"]', '[sets."latest"]'),
     "versions.toml: set 'latest': set name 'latest' is reserved"),
    ("set is not a table", lambda t: t + '\n[sets]\n"3.0.0" = "yes"\n',
     "versions.toml: set '3.0.0': expected a table, got a string"),
    ("sets not a table", lambda t: "sets = 3\n" + t, "versions.toml: not valid TOML"),
    ("platforms of the wrong type", lambda t: "platforms = 3\n" + t.replace("[platforms]", "[platformz]"),
     "versions.toml: top level: key 'platformz': unknown table"),
    ("top-level key in a component table", lambda t: t.replace('[sets."2.0.0"]', 'sets = 3\n[sets."2.0.0"]'),
     "versions.toml: component 'wsi': key 'sets': unknown key"),
    ("settings not a table", lambda t: t.replace("[settings]\n", "settings = 3\n[settingz]\n"),
     "versions.toml: top level: key 'settingz': unknown table"),
    ("set name ending in a newline", lambda t: t.replace('[sets."2.1.0"]', '[sets."2.1.0\\n"]'),
     "versions.toml: set '2.1.0\\n': set name must be"),
    ("version ending in a newline", lambda t: t.replace('postgresql = "9.1"', 'postgresql = "9.1\\n"', 1),
     "versions.toml: set '2.0.0': key 'postgresql': malformed version '9.1\\n'"),
    ("registry ending in a newline", lambda t: t.replace('registry = "127.0.0.1:5000"', 'registry = "127.0.0.1:5000\\n"'),
     "versions.toml: settings: key 'registry': malformed registry '127.0.0.1:5000\\n'"),
    ("namespace ending in a newline", lambda t: t.replace('namespace = "fixture"', 'namespace = "fixture\\n"'),
     "versions.toml: settings: key 'namespace': malformed namespace 'fixture\\n'"),
    ("base registry ending in a newline", lambda t: t.replace('"127.0.0.1:5000/library"', '"127.0.0.1:5000/library\\n"'),
     "versions.toml: settings: key 'base_registry': malformed registry path 'library\\n'"),
    ("platform ending in a newline", lambda t: t.replace('amd64 = "linux/amd64"', 'amd64 = "linux/amd64\\n"'),
     "versions.toml: platforms: key 'amd64': malformed platform 'linux/amd64\\n'"),
    ("platform the Dockerfile cannot build", lambda t: t.replace('[platforms]\n', '[platforms]\nriscv64 = "linux/riscv64"\n'),
     "versions.toml: platforms: key 'riscv64': the Dockerfile cannot build platform 'linux/riscv64'"),
    ("branch template ending in a newline", lambda t: t.replace('"OrthancGdcm-{version}"', '"OrthancGdcm-{version}\\n"'),
     "versions.toml: component 'gdcm': key 'branch': malformed branch template 'OrthancGdcm-1.0\\n'"),
    ("results outside the project", lambda t: t.replace('results = "results/builds.jsonl"', 'results = "../builds.jsonl"'),
     "versions.toml: settings: key 'results': '../builds.jsonl' is outside the project"),
    ("results at an absolute path", lambda t: t.replace('results = "results/builds.jsonl"', 'results = "/tmp/b.jsonl"'),
     "versions.toml: settings: key 'results': '/tmp/b.jsonl' is outside the project"),
    ("malformed distribution name", lambda t: t + '\n[distributions."book worm"]\nimage = "debian:x"\n',
     "versions.toml: distributions: key 'book worm': malformed distribution name"),
    ("unknown top-level table", lambda t: t + "\n[extras]\nx = 1\n",
     "versions.toml: top level: key 'extras': unknown table"),
    ("missing settings", lambda t: t.replace("[settings]", "[settingz]"),
     "versions.toml: top level: key 'settingz': unknown table"),
    ("unknown settings key", lambda t: t.replace('namespace = "fixture"', 'namespace = "fixture"\ncolour = "red"'),
     "versions.toml: settings: key 'colour': unknown key"),
    ("settings key of the wrong type", lambda t: t.replace('namespace = "fixture"', "namespace = 3"),
     "versions.toml: settings: key 'namespace': expected a string, got an integer"),
    ("missing settings key", lambda t: t.replace('namespace = "fixture"\n', ""),
     "versions.toml: settings: key 'namespace': missing"),
    ("malformed registry", lambda t: t.replace('registry = "127.0.0.1:5000"', 'registry = "http://127.0.0.1:5000"'),
     "versions.toml: settings: key 'registry': malformed registry"),
    ("upper-case namespace", lambda t: t.replace('namespace = "fixture"', 'namespace = "Fixture"'),
     "versions.toml: settings: key 'namespace': malformed namespace 'Fixture'"),
    ("default set unknown", lambda t: t.replace('default_set = "2.0.0"', 'default_set = "3.0"'),
     "versions.toml: settings: key 'default_set': no such set '3.0'"),
    ("default image unknown", lambda t: t.replace('default_image = "orthanc"', 'default_image = "dcm4chee"'),
     "versions.toml: settings: key 'default_image': unknown image 'dcm4chee'"),
    ("unknown alias", lambda t: t.replace('aliases = ["latest", "minor"]', 'aliases = ["stable"]'),
     "versions.toml: settings: key 'aliases': unknown alias 'stable'"),
    ("unknown toolchain", lambda t: t.replace('namespace = "fixture"', 'namespace = "fixture"\ntoolchain = "icc"'),
     "versions.toml: settings: key 'toolchain': unknown toolchain 'icc' (known: gcc, clang)"),
    ("sbom generator with a space", lambda t: t.replace('namespace = "fixture"',
                                                          'namespace = "fixture"\nsbom_generator = "syft scanner"'),
     "versions.toml: settings: key 'sbom_generator': not an image reference: 'syft scanner'"),
    ("distribution without image", lambda t: t.replace('image = "debian:bookworm-slim"', 'name = "x"'),
     "versions.toml: distribution 'bookworm': key 'name': unknown key"),
    ("distribution image without tag", lambda t: t.replace('image = "debian:bookworm-slim"', 'image = "debian"'),
     "versions.toml: distribution 'bookworm': key 'image': malformed image reference 'debian'"),
]


def test_the_toolchain_setting_is_gcc_when_left_out(tmp_path):
    assert config.load(write(tmp_path, GOOD)).settings.toolchain == "gcc"
    chosen = GOOD.replace('namespace = "fixture"', 'namespace = "fixture"\ntoolchain = "clang"')
    assert config.load(write(tmp_path, chosen)).settings.toolchain == "clang"


@pytest.mark.parametrize("description,change,expected", BAD, ids=[b[0] for b in BAD])
def test_bad_file_gives_one_line_error(tmp_path, description, change, expected):
    text = change(GOOD)
    assert text != GOOD, "the transformation must change the file"
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        config.load(path)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("versions.toml: ")
    assert expected in message


@pytest.mark.parametrize("description,change,expected", BAD[:12], ids=[b[0] for b in BAD[:12]])
def test_cli_exits_non_zero_with_the_line(tmp_path, description, change, expected):
    path = write(tmp_path, change(GOOD))
    results = tmp_path / "results.jsonl"
    proc = subprocess.run(
        [sys.executable, "-m", "tools", "build", "--config", str(path), "--set", "2.0.0",
         "--platform", "amd64", "--results", str(results), "--dockerfile", str(FIXTURE.parent / "Dockerfile")],
        cwd=ROOT, capture_output=True, text=True,
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0]
    assert proc.stdout == ""  # nothing was started
    assert not results.exists()


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match=r"^versions.toml: file not found"):
        config.load(tmp_path / "versions.toml")


def test_unknown_set_on_command_line():
    proc = subprocess.run([sys.executable, "-m", "tools", "build", "--config", str(FIXTURE), "--set", "7.7",
                           "--dry-run"], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.strip() == "error: versions.toml: set '7.7': no such set (known: 2.0.0, 2.1.0)"


def test_platform_not_in_set_on_command_line():
    proc = subprocess.run([sys.executable, "-m", "tools", "build", "--config", str(FIXTURE), "--set", "2.0.0",
                           "--platform", "arm64", "--dry-run"], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 2
    assert "set '2.0.0': key 'platforms': platform 'arm64' is not built for this set" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
