"""The complete `orthanc-plugins` image of the default set (amd64), built from the source mirror,
against real PostgreSQL and MariaDB servers.

Every plugin is compiled from upstream's source (or Debian's, where the set pins it), against the
Orthanc framework of the set's own core (compiled once, in the core's stage), scheduled two stages at
a time. The first run compiles the core and the six plugins (about 20 minutes on 2 cores); later runs
reuse the cache, locally or from the registry.
"""

from __future__ import annotations

import json
import secrets
import subprocess

import pytest

from tools.configuration import config
from tools.running import results, smoke
from tools.cli import DEFAULT_CONFIG

from . import databases
from .conftest import tools_cli

CFG = config.load(DEFAULT_CONFIG)
SET = CFG.settings.default_set
VERSION = CFG.sets[SET].pins["orthanc"].version
IMAGE = f"127.0.0.1:5000/orthanc/orthanc-plugins:{SET}-amd64"
DB_HOST = "dbhost"  # the Docker host, as seen from the container


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    path = tmp_path_factory.mktemp("plugins") / "builds.jsonl"
    tools_cli("build", "--set", SET, "--platform", "amd64", "--image", "orthanc-plugins", "--cache-registry",
              "--max-parallel", "2", "--results", str(path), check=True)
    records, damaged = results.read(path)
    assert not damaged and records[-1]["status"] == "ok"
    return records[-1]


def test_the_image_is_complete(built):
    assert "without" not in built
    assert built["scheduler"]["max_concurrent"] <= 2
    jobs = {job["target"] for job in built["jobs"]}
    assert {f"build-{c}" for c in config.COMPONENTS[1:]} <= jobs
    assert smoke.left_out(IMAGE) == []


def test_smoke_session_checks_every_plugin_at_its_own_route(built):
    proc = tools_cli("smoke", "--set", SET, "--platform", "amd64", "--image", "orthanc-plugins")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for name in ("dicom-web", "gdcm", "web-viewer", "wsi", "serve-folders"):
        assert name in proc.stdout
    # The database plugins load only when configured (the tests below configure them).
    assert "postgresql-index" not in proc.stdout and "mysql-storage" not in proc.stdout


def test_runtime_is_lean_and_has_the_wsi_tools(built):
    out = subprocess.run(["docker", "run", "--rm", "--entrypoint", "sh", IMAGE, "-c",
                          "id -un; command -v gcc cc c++ cmake || true; ls /usr/include | wc -l; "
                          "du -sxm / 2>/dev/null | cut -f1; ls /usr/share/orthanc/plugins; "
                          "OrthancWSIDicomizer --version; OrthancWSIDicomToTiff --version"],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    lines = out.stdout.split()
    assert lines[0] == "orthanc"
    assert lines[1] == "0"  # no compiler, no cmake, no headers
    assert int(lines[2]) <= 350, f"orthanc-plugins image is {lines[2]} MB, over 350 MB"
    for library in ("libOrthancPostgreSQLIndex.so", "libOrthancMySQLStorage.so", "libOrthancGdcm.so",
                    "libOrthancDicomWeb.so", "libOrthancWebViewer.so", "libOrthancWSI.so"):
        assert library in out.stdout


def test_every_runtime_package_is_installed_as_dpkg_on_the_image_would_install_it(built):
    # Packages without maintainer scripts are installed on the build machine (unpack-debs.sh), the
    # others in the image: its own dpkg must find every package installed and configured, every file
    # of theirs as the package has it (but what the images leave out), their libraries in ld.so's
    # cache, and the scripts' work done.
    script = ("dpkg --audit; echo ==; dpkg-query -W -f '${db:Status-Abbrev}${Package}\\n' | grep -v '^ii ';"
              # (documentation, manual pages, translations and apt's lists are left out on purpose)
              " echo ==; dpkg --verify | grep -v -E"
              " '^missing +(/usr/share/(doc|locale|man|info)(/|$)|/var/lib/apt/lists/|/var/log/apt$)';"
              " echo ==; ldconfig -p | grep -c -E 'libdcmtk|libpq|libmariadb|libgdcm';"
              " readlink -f /etc/mysql/my.cnf; dpkg-query -W -f '${Status}\\n' libpq5 'libdcmtk*' mysql-common")
    proc = subprocess.run(["docker", "run", "--rm", "--user", "0", "--entrypoint", "sh", IMAGE, "-c", script],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    audit, not_installed, verify, rest = proc.stdout.split("==\n")
    assert (audit, not_installed, verify) == ("", "", ""), proc.stdout
    libraries, my_cnf, status = rest.split("\n", 2)
    assert int(libraries) >= 4
    assert my_cnf.startswith("/etc/mysql/")  # mysql-common's alternative, made by its postinst
    assert status.count("install ok installed") >= 3, status


def _store_and_count(server: databases.Server, section: str, tables: tuple[str, str]) -> None:
    password = secrets.token_hex(12)
    env = {"ORTHANC__REGISTERED_USERS": f'{{"smoke": "{password}"}}',
           f"ORTHANC__{section.upper()}": json.dumps(server.orthanc_config(DB_HOST))}
    with smoke.running(IMAGE, "linux/amd64", env, "smoke", password, 120,
                       hosts={DB_HOST: "host-gateway"}) as (client, container, _):
        found = smoke.check_core(client, VERSION, smoke.expected_plugins("orthanc-plugins", []))
        logs = container.logs()
    index, storage = tables
    # The instance is in the database: its resources in the index, its file in the storage area.
    assert int(server.query(f"SELECT COUNT(*) FROM {index}")) >= 4, logs  # patient, study, series, instance
    assert int(server.query(f"SELECT COUNT(*) FROM {storage}")) >= 1, logs
    assert server.query(f"SELECT COUNT(*) FROM {index} WHERE publicId = '{found['instance']['ID']}'") == "1", logs


def test_postgresql_index_and_storage_hold_the_instance(built):
    with databases.postgresql(secrets.token_hex(8)) as server:
        _store_and_count(server, "PostgreSQL", ("resources", "storagearea"))


def test_mariadb_index_and_storage_hold_the_instance(built):
    with databases.mariadb(secrets.token_hex(8)) as server:
        _store_and_count(server, "MySQL", ("Resources", "StorageArea"))
