"""examples/compose.yaml as a user runs it: the default set's `orthanc-plugins` image built here,
PostgreSQL (an image made from the local Debian base) for the index and the storage, secrets from
files, named volumes and the health check; an instance stored, the stack restarted, the instance
found again."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import time

from tools.running import smoke

from . import images
from .conftest import ROOT
from .databases import free_port

EXAMPLES = ROOT / "examples"


def test_the_compose_example_keeps_an_instance_across_a_restart(tmp_path):
    image = images.built("orthanc-plugins")
    work = tmp_path / "example"
    shutil.copytree(EXAMPLES, work)
    folder = work / "secrets"
    folder.mkdir(mode=0o755)
    password, db_password = secrets.token_hex(12), secrets.token_hex(16)
    for name, text in (("db-password", db_password + "\n"), ("orthanc-users.json", json.dumps({"admin": password}))):
        (folder / name).write_text(text)
        (folder / name).chmod(0o644)  # compose mounts secret files as they are
    port = free_port()
    env = {**os.environ, "ORTHANC_IMAGE": image, "ORTHANC_HTTP_PORT": f"127.0.0.1:{port}",
           "ORTHANC_DICOM_PORT": f"127.0.0.1:{free_port()}",
           "BASE_IMAGE": f"{images.CFG.settings.base_registry}/debian:trixie-slim"}
    compose = ["docker", "compose", "--project-name", "orthanc-it-" + secrets.token_hex(4),
               "--file", str(work / "compose.yaml")]

    def run(*args: str, timeout: float = 600) -> str:
        proc = subprocess.run([*compose, *args], capture_output=True, text=True, env=env, timeout=timeout)
        assert proc.returncode == 0, f"docker compose {' '.join(args)}: {proc.stdout[-3000:]}{proc.stderr[-3000:]}"
        return proc.stdout

    client = smoke.Client(f"http://127.0.0.1:{port}", "admin", password)
    try:
        began = time.monotonic()
        run("up", "--detach", "--build", "--wait", "--wait-timeout", "300")
        first_up = time.monotonic() - began
        assert images.plugins(client) >= {"postgresql-index", "postgresql-storage"}
        data, uids = smoke.make_dicom(patient="COMPOSE^TEST")
        stored = images.upload(client, data)
        count = run("exec", "-T", "postgresql", "psql", "--dbname=orthanc", "--tuples-only", "--no-align",
                    "--command=SELECT COUNT(*) FROM resources")
        assert int(count) >= 4  # patient, study, series, instance: in PostgreSQL
        health = json.loads(run("ps", "--format", "json", "orthanc").splitlines()[0])
        assert health["Health"] == "healthy", health
        logs = run("logs", "orthanc")
        assert db_password not in logs and password not in logs

        run("down")  # the named volumes stay
        began = time.monotonic()
        run("up", "--detach", "--wait", "--wait-timeout", "300")
        second_up = time.monotonic() - began
        assert client.json("GET", f"/instances/{stored['ID']}")["MainDicomTags"]["SOPInstanceUID"] == \
            uids["SOPInstanceUID"]
        status, back = client.request("GET", f"/instances/{stored['ID']}/file")
        assert status == 200 and back == data
    finally:
        subprocess.run([*compose, "down", "--volumes"], capture_output=True, env=env, timeout=300)
    print(f"compose: first up {first_up:.0f}s (PostgreSQL's image built or cached), second up {second_up:.0f}s")
