"""The real `orthanc` image of the default set, built from its pinned sources, smoke-tested.

amd64 is built natively; armv7 is cross-compiled and smoke-tested under qemu.  The first run
compiles Orthanc once per platform (about 10 minutes each on 2 cores); later runs reuse the cache,
locally or from the registry (--cache-registry), as a CI run on the same host does.
"""

from __future__ import annotations

import json
import subprocess

import pytest

from tools.configuration import config
from tools.running import smoke
from tools.cli import DEFAULT_CONFIG

from .conftest import tools_cli

CFG = config.load(DEFAULT_CONFIG)
SET = CFG.settings.default_set
VERSION = CFG.sets[SET].pins["orthanc"].version
IMAGE = f"127.0.0.1:5000/orthanc/orthanc:{SET}-amd64"


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    results = tmp_path_factory.mktemp("core") / "builds.jsonl"
    tools_cli("build", "--set", SET, "--platform", "amd64", "--image", "orthanc", "--cache-registry",
              "--results", str(results), check=True)
    from tools.running import results as results_mod
    records, damaged = results_mod.read(results)
    assert not damaged and records[-1]["status"] == "ok"
    return records[-1]


def test_smoke_session_passes(built):
    proc = tools_cli("smoke", "--set", SET, "--platform", "amd64", "--image", "orthanc")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"Orthanc {VERSION}" in proc.stdout and "stored and read back" in proc.stdout


def test_cross_compiled_armv7_image_passes_the_smoke_test_under_emulation(tmp_path):
    results = tmp_path / "builds.jsonl"
    tools_cli("build", "--set", SET, "--platform", "armv7", "--image", "orthanc", "--cache-registry",
              "--results", str(results), check=True)
    from tools.running import results as results_mod
    record = results_mod.read(results)[0][-1]
    assert (record["status"], record["compiler"], record["emulated"]) == ("ok", "cross", True)
    ref = f"127.0.0.1:5000/orthanc/orthanc:{SET}-armv7"
    machine = subprocess.run(["docker", "run", "--rm", "--platform", "linux/arm/v7", "--entrypoint", "uname",
                              ref, "-m"], capture_output=True, text=True, check=True).stdout.strip()
    assert machine == "armv7l"
    proc = tools_cli("smoke", "--set", SET, "--platform", "armv7", "--image", "orthanc")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "linux/arm/v7, emulated" in proc.stdout and f"Orthanc {VERSION}" in proc.stdout


def test_image_is_lean_and_runs_as_non_root(built):
    out = subprocess.run(["docker", "run", "--rm", "--entrypoint", "sh", IMAGE, "-c",
                          "id -un; command -v gcc cc c++ cmake || true; ls /usr/include | wc -l; "
                          "du -sxm / 2>/dev/null | cut -f1; ls /usr/share/orthanc/plugins"],
                         capture_output=True, text=True, check=True).stdout
    lines = out.split()
    assert lines[0] == "orthanc"
    assert lines[1] == "0"  # no compiler, no cmake, no headers
    assert int(lines[2]) <= 200, f"orthanc image is {lines[2]} MB, over 200 MB"
    assert "libServeFolders.so" in out and "libModalityWorklists.so" in out
    config = json.loads(subprocess.run(["docker", "image", "inspect", IMAGE], capture_output=True, text=True,
                                       check=True).stdout)[0]["Config"]
    assert set(config["ExposedPorts"]) == {"4242/tcp", "8042/tcp"}
    assert "/var/lib/orthanc/db" in config["Volumes"]
    assert config["Labels"]["org.opencontainers.image.version"] == SET
    assert config["Labels"]["org.orthanc-images.orthanc.version"] == VERSION


def test_the_ca_certificates_made_on_the_build_machine_are_those_the_image_makes_itself(built):
    # /etc/ssl/certs comes from the build machine (make-certificates.sh); update-ca-certificates run
    # afresh in the image itself must leave the same links and the same bundle.
    listing = ("cd /etc/ssl/certs && find . -printf '%p %y %l\\n' | sort && md5sum ca-certificates.crt "
               "&& md5sum /etc/ca-certificates.conf")
    out = subprocess.run(["docker", "run", "--rm", "--user", "0", "--entrypoint", "sh", IMAGE, "-c",
                          f"{listing} && echo ==== && update-ca-certificates --fresh >/dev/null && {listing}"],
                         capture_output=True, text=True, check=True).stdout
    shipped, made_here = out.split("====\n")
    assert shipped == made_here
    assert shipped.count(".pem l ") >= 100, shipped[:500]


def test_refuses_remote_access_without_users(built):
    proc = subprocess.run(["docker", "run", "--rm", IMAGE], capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0
    assert "no user is configured" in proc.stderr


def test_environment_configures_orthanc(built):
    env = {
        "ORTHANC__REGISTERED_USERS": '{"alice": "s3cret"}',
        "ORTHANC__NAME": "EnvConfigured",
        "ORTHANC__DICOM_AET": "ENVAET",
        "SERVEFOLDERS_PLUGIN_ENABLED": "false",
    }
    with smoke.running(IMAGE, "linux/amd64", env, "alice", "s3cret", 120) as (client, _, system):
        assert system["Name"] == "EnvConfigured"
        assert system["DicomAet"] == "ENVAET"
        assert "serve-folders" not in set(client.json("GET", "/plugins"))
        assert "worklists" in set(client.json("GET", "/plugins"))
        status, _ = smoke.Client(client.base, "alice", "wrong").request("GET", "/system")
        assert status == 401


def test_orthanc_explorer_assets_are_served(built):
    with smoke.running(IMAGE, "linux/amd64", {"ORTHANC__REGISTERED_USERS": '{"u": "p"}'}, "u", "p", 120) \
            as (client, _, _):
        for path in ("/app/explorer.html", "/app/libs/jquery.min.js", "/app/libs/jquery.mobile.min.js",
                     "/app/libs/date.js", "/app/libs/jquery.mobile.min.css"):
            status, body = client.request("GET", path)
            assert status == 200 and len(body) > 1000, (path, status, len(body))


def test_unauthenticated_only_when_asked(built):
    with smoke.running(IMAGE, "linux/amd64", {"ORTHANC_ALLOW_UNAUTHENTICATED": "true"}, "", "", 120) \
            as (_, container, system):
        assert system["Version"] == VERSION
        assert "WARNING: remote access without authentication" in container.logs()


def test_real_image_native_per_platform_then_manifest(tmp_path, namespace):
    """The seed's native workflow with the real image: push each platform, then `manifest`."""
    from .conftest import platforms, tags

    # This release engineer builds the set for amd64 and armv7 only.
    text = DEFAULT_CONFIG.read_text()
    marker = f'[sets."{SET}"]\nbase = "{CFG.sets[SET].base}"\n'
    assert marker in text
    config = tmp_path / "versions.toml"
    config.write_text(text.replace(marker, marker + 'platforms = ["amd64", "armv7"]\n'))
    ns = f"{namespace}-real"
    common = ["--config", str(config), "--namespace", ns]

    def push(arch):
        tools_cli("build", *common, "--set", SET, "--platform", arch, "--image", "orthanc", "--push",
                  "--results", str(tmp_path / "builds.jsonl"), check=True)

    push("amd64")
    refused = tools_cli("manifest", *common, SET, "--image", "orthanc")
    assert refused.returncode == 1 and f"{ns}/orthanc:{SET}-armv7" in refused.stderr
    assert tags(f"{ns}/orthanc") == {f"{SET}-amd64"}  # nothing pushed
    push("armv7")
    published = tools_cli("manifest", *common, SET, "--image", "orthanc")
    assert published.returncode == 0, published.stderr
    assert platforms(f"{ns}/orthanc", SET) == {"linux/amd64", "linux/arm/v7"}
    ref = f"127.0.0.1:5000/{ns}/orthanc:{SET}"
    for platform, machine in (("linux/arm/v7", "armv7l"), ("linux/amd64", "x86_64")):
        subprocess.run(["docker", "pull", "--quiet", "--platform", platform, ref], check=True, capture_output=True)
        out = subprocess.run(["docker", "run", "--rm", "--platform", platform, "--entrypoint", "uname", ref, "-m"],
                             capture_output=True, text=True, check=True).stdout
        assert out.strip() == machine


def explorer_dom(url: str) -> str:
    """The page as a real headless Chromium renders it, scripts run (Debian's chromium)."""
    proc = subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=15000",
                           "--dump-dom", url], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


def test_orthanc_explorer_lists_the_uploaded_study_in_chromium(built):
    """The Explorer's JavaScript runs and shows what was stored."""
    env = {"ORTHANC_ALLOW_UNAUTHENTICATED": "true"}  # a browser without credentials
    with smoke.running(IMAGE, "linux/amd64", env, "", "", 120) as (client, container, _):
        data, uids = smoke.make_dicom(patient="EXPLORER^CHECK")
        stored = client.json("POST", "/instances", data, content_type="application/dicom")
        base = f"http://127.0.0.1:{container.port}/app/explorer.html"
        patients = explorer_dom(base + "#find-patients")
        patient = explorer_dom(f"{base}#patient?uuid={stored['ParentPatient']}")
    assert "EXPLORER^CHECK" in patients and uids["PatientID"] in patients
    assert "smoke test" in patient  # the study's description, in the patient's list of studies
