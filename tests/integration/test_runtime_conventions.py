"""The images run the way Orthanc's Docker users expect: the entrypoint checks the configuration that
will run, settings come from secret files, a health check asks Orthanc itself, any uid of group 0
and a read-only root work, `docker stop` is clean and quick, and switches set the log level.

Against the default set's real `orthanc` and `orthanc-plugins` images (amd64).
"""

from __future__ import annotations

import json
import re
import secrets
import time

import pytest

from tools.running import smoke

from . import images

USER = "alice"


def users() -> tuple[dict[str, str], str]:
    password = secrets.token_hex(12)
    return {"ORTHANC__REGISTERED_USERS": json.dumps({USER: password})}, password


def readable(path, text: str):
    """A file the container's users can read (a bind mount keeps the host's modes)."""
    path.write_text(text)
    path.chmod(0o644)
    return path


@pytest.fixture(params=images.IMAGES)
def image(request):
    return images.built(request.param)


def test_a_normal_start_logs_no_error(image):
    env, password = users()
    with images.running(image, env, USER, password) as (client, container):
        assert client.json("GET", "/system")["Version"] == images.VERSION
        text = images.logs(container)
    assert "Orthanc has started" in text
    assert "Cannot set globale locale" not in text
    assert not images.ERROR_LINE.search(text), text
    assert not re.search(r"^[IT]\d{4} ", text, re.M), text  # no switch set: warnings and errors only


def test_an_own_orthanc_command_runs_with_its_own_configuration_checked(image, tmp_path):
    folder = tmp_path / "config"
    folder.mkdir(mode=0o755)
    password = secrets.token_hex(12)
    readable(folder / "my.json", '{\n  // my own configuration, with comments as Orthanc allows\n'
                                 '  "Name": "Mine", /* users: */ "RemoteAccessAllowed": true,\n'
                                 '  "StorageDirectory": "/var/lib/orthanc/db", "IndexDirectory": "/var/lib/orthanc/db",\n'
                                 f'  "RegisteredUsers": {{"{USER}": "{password}"}}\n}}\n')
    readable(folder / "open.json", '{"RemoteAccessAllowed": true, "AuthenticationEnabled": false}')
    mount = ["-v", f"{folder}:/config:ro"]
    with images.running(image, {}, USER, password, options=mount, command=["/usr/sbin/Orthanc", "/config/my.json"]) \
            as (client, container):
        assert client.json("GET", "/system")["Name"] == "Mine"
        assert images.plugins(client) == set()  # its configuration names no plugin
        text = images.logs(container)
    assert "docker-entrypoint" not in text
    assert not images.ERROR_LINE.search(text), text  # the locale Orthanc asks for by default is there
    refused = images.docker("run", "--rm", *mount, image, "/usr/sbin/Orthanc", "--verbose", "/config/open.json",
                            check=False)
    assert refused.returncode == 1
    assert "remote access is on but no user is configured (/config/open.json)" in refused.stderr


def test_any_other_command_runs_as_given_with_a_note(image):
    proc = images.docker("run", "--rm", image, "bash", "-c", "echo hello; id -u; id -g")
    assert proc.stdout.split() == ["hello", "999", "0"]
    assert proc.stderr.strip().splitlines() == [
        "docker-entrypoint: running 'bash' as given: no Orthanc configuration is made or checked"]


def test_any_setting_comes_from_a_secret_file(image, tmp_path):
    folder = tmp_path / "secrets"
    folder.mkdir(mode=0o755)
    password, name = secrets.token_hex(12), "Secret" + secrets.token_hex(4)
    readable(folder / "ORTHANC__REGISTERED_USERS", json.dumps({USER: password}) + "\n")  # named after the variable
    readable(folder / "orthanc-name", name + "\n")
    readable(folder / "aet", "SECRETAET\n")
    env = {"ORTHANC__NAME_FILE": "/run/secrets/orthanc-name", "ORTHANC__DICOM_AET_FILE": "/run/secrets/aet"}
    with images.running(image, env, USER, password, options=["-v", f"{folder}:/run/secrets:ro"]) \
            as (client, container):
        system = client.json("GET", "/system")
        assert (system["Name"], system["DicomAet"]) == (name, "SECRETAET")
        listing = images.docker("exec", container.id, "ls", "-ln", "/tmp/orthanc").stdout
        other = images.docker("exec", "--user", "12345:0", container.id, "cat", "/tmp/orthanc/orthanc.json",
                              check=False)
        inspect = images.docker("inspect", container.id).stdout
        text = images.logs(container)
    for line in listing.splitlines()[1:]:
        assert re.match(r"^-rw------- 1 999 0 ", line), listing  # the merged configuration, the probe
    assert other.returncode != 0 and "Permission denied" in other.stderr
    assert password not in text and password not in inspect and name not in inspect


def test_the_health_check_asks_orthanc_with_credentials_off_the_command_line(image):
    config = json.loads(images.docker("image", "inspect", image).stdout)[0]["Config"]
    assert config["Healthcheck"]["Test"] == ["CMD", "/usr/local/bin/orthanc-healthcheck"]
    env, password = users()
    with images.running(image, env, USER, password) as (client, container):
        seconds = images.wait_healthy(container)
        assert images.health_log(container)[-1]["ExitCode"] == 0
        # Authentication is on: without the credentials, Orthanc says no.
        assert smoke.Client(client.base, "", "").request("GET", "/system")[0] == 401
        # The probe command for orchestrators, and what it reads: only the Orthanc user can.
        assert images.docker("exec", container.id, "orthanc-healthcheck").returncode == 0
        probe = images.docker("exec", "--user", "12345:0", container.id, "orthanc-healthcheck", check=False)
        assert probe.returncode != 0
    assert seconds < 20
    with images.running(image, {"ORTHANC_ALLOW_UNAUTHENTICATED": "true"}) as (_, container):
        images.wait_healthy(container)


def test_any_uid_of_group_0_with_a_read_only_root_keeps_data_in_the_volume(image):
    volume = "orthanc-test-" + secrets.token_hex(4)
    images.docker("volume", "create", volume)
    try:
        data = ["-v", f"{volume}:/var/lib/orthanc/db"]
        env, password = users()
        as_any = ["--user", "12345:0", "--read-only", "--tmpfs", "/tmp", *data]
        with images.running(image, env, USER, password, options=as_any) as (client, container):
            stored = images.upload(client)
            assert images.docker("exec", container.id, "id", "-u").stdout.strip() == "12345"
            images.wait_healthy(container)
        # The image's own user (999) finds it, and may delete it.
        with images.running(image, env, USER, password, options=data) as (client, _):
            assert client.json("GET", f"/instances/{stored['ID']}")["ID"] == stored["ID"]
            assert client.request("DELETE", f"/instances/{stored['ID']}")[0] == 200
        refused = images.docker("run", "--rm", "--read-only", *data, *[a for k, v in env.items() for a in
                                                                       ("-e", f"{k}={v}")], image, check=False)
        assert refused.returncode == 1
        assert "cannot write the runtime folder /tmp/orthanc as uid 999 (with --read-only, add --tmpfs /tmp)" \
            in refused.stderr
    finally:
        images.docker("volume", "rm", "-f", volume, check=False)


def test_docker_stop_shuts_orthanc_down_cleanly_and_quickly(image):
    env, password = users()
    container = images.start(image, env)
    try:
        client = smoke.Client(f"http://127.0.0.1:{container.port}", USER, password)
        smoke.wait_ready(client, container, 120)
        began = time.monotonic()
        images.docker("stop", container.id)  # the default timeout: 10 s, then SIGKILL
        seconds = time.monotonic() - began
        state = json.loads(images.docker("inspect", "-f", "{{json .State}}", container.id).stdout)
        text = images.logs(container)
    finally:
        container.stop()
    assert seconds < 6, f"docker stop took {seconds:.1f}s"
    assert (state["ExitCode"], state["OOMKilled"]) == (0, False)
    assert text.rstrip().endswith("Orthanc has stopped"), text[-500:]


@pytest.mark.parametrize("switch,level", [("VERBOSE_ENABLED", "I"), ("TRACE_ENABLED", "T")])
def test_switches_set_the_log_level(image, switch, level):
    env, password = users()
    env[switch] = "true"
    with images.running(image, env, USER, password) as (_, container):
        text = images.logs(container)
    assert re.search(rf"^{level}\d{{4}} ", text, re.M), text[-2000:]
    if level == "I":
        assert not re.search(r"^T\d{4} ", text, re.M)
