"""The real `orthanc-plugins` image of set 1.10.1 (amd64) against real PostgreSQL and MariaDB servers.

Debian's sources of the DICOMweb, Web Viewer and WSI plugins of bookworm cannot be downloaded from
these machines (the mirror answers 404), so the image is built `--without` them: the PostgreSQL,
MySQL and GDCM plugins are compiled from Debian's sources, scheduled two stages at a time. The first
run compiles the framework and the plugins (about 8 minutes on 2 cores); later runs reuse the cache,
locally or from the registry.
"""

from __future__ import annotations

import json
import secrets
import subprocess

import pytest

from tools import results, smoke

from . import databases
from .conftest import tools_cli

SET = "1.10.1"
IMAGE = f"127.0.0.1:5000/orthanc/orthanc-plugins:{SET}-amd64"
WITHOUT = ["dicomweb", "webviewer", "wsi"]
DB_HOST = "dbhost"  # the Docker host, as seen from the container


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    path = tmp_path_factory.mktemp("plugins") / "builds.jsonl"
    tools_cli("build", "--set", SET, "--platform", "amd64", "--image", "orthanc-plugins", "--cache-registry",
              "--max-parallel", "2", *[a for w in WITHOUT for a in ("--without", w)],
              "--results", str(path), check=True)
    records, damaged = results.read(path)
    assert not damaged and records[-1]["status"] == "ok"
    return records[-1]


def test_the_record_and_label_say_what_was_left_out(built):
    assert built["without"] == WITHOUT
    assert built["scheduler"]["max_concurrent"] <= 2
    jobs = [job["target"] for job in built["jobs"]]
    assert not {"build-dicomweb", "build-webviewer", "build-wsi"} & set(jobs)
    assert {"build-postgresql", "build-mysql", "build-gdcm"} <= set(jobs)
    assert smoke.left_out(IMAGE) == WITHOUT


def test_smoke_session_checks_the_plugins_that_are_there(built):
    proc = tools_cli("smoke", "--set", SET, "--platform", "amd64", "--image", "orthanc-plugins")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "built without dicomweb, webviewer, wsi" in proc.stdout
    for name in ("postgresql-index", "mysql-storage", "gdcm", "serve-folders"):
        assert name in proc.stdout


def test_runtime_is_lean(built):
    out = subprocess.run(["docker", "run", "--rm", "--entrypoint", "sh", IMAGE, "-c",
                          "id -un; command -v gcc cc c++ cmake || true; ls /usr/include | wc -l; "
                          "ls /usr/share/orthanc/plugins"], capture_output=True, text=True, check=True).stdout
    lines = out.split()
    assert lines[0] == "orthanc"
    assert lines[1] == "0"  # no compiler, no cmake, no headers
    for library in ("libOrthancPostgreSQLIndex.so", "libOrthancMySQLStorage.so", "libOrthancGdcm.so"):
        assert library in out


def _store_and_count(server: databases.Server, section: str, tables: tuple[str, str]) -> None:
    password = secrets.token_hex(12)
    env = {"ORTHANC__REGISTERED_USERS": f'{{"smoke": "{password}"}}',
           f"ORTHANC__{section.upper()}": json.dumps(server.orthanc_config(DB_HOST))}
    with smoke.running(IMAGE, "linux/amd64", env, "smoke", password, 120,
                       hosts={DB_HOST: "host-gateway"}) as (client, container, _):
        found = smoke.check_core(client, SET, smoke.expected_plugins("orthanc-plugins", WITHOUT))
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
