"""Out of the box the images behave as upstream Orthanc does: the sample plugins that change how the
server behaves (DelayedDeletion, Housekeeper, MultitenantDicom) load only when switched on, the
database plugins only when configured; each opt-in plugin, switched on, does its job.

Against the default set's real `orthanc` and `orthanc-plugins` images (amd64); ORTHANC_TEST_SET=1.10.1
points them at an older set, whose Orthanc has none of the three samples.
"""

from __future__ import annotations

import json
import secrets

import pytest

from tools.running import smoke

from . import images

USER = "alice"
PRIVATE_TAG = "00e1,10c2"
PRIVATE_NAME = "PET-CT Multi Modality Name"
DICTIONARY = {PRIVATE_TAG: ["UI", PRIVATE_NAME, 1, 1, "ELSCINT1"]}
#: What each image loads with no switch set, as /plugins names them.
DEFAULTS = {
    "orthanc": {"serve-folders", "worklists"},
    "orthanc-plugins": {"serve-folders", "worklists", "dicom-web", "gdcm", "web-viewer", "wsi"},
}
#: The samples that change how the server behaves: loaded only when switched on (Orthanc 1.12 and later).
OPT_IN = ("DelayedDeletion", "Housekeeper", "MultitenantDicom")


def users() -> tuple[dict[str, str], str]:
    password = secrets.token_hex(12)
    return {"ORTHANC__REGISTERED_USERS": json.dumps({USER: password})}, password


@pytest.mark.parametrize("image", images.IMAGES)
def test_with_no_switch_set_the_image_behaves_as_upstream(image):
    ref = images.built(image)
    env, password = users()
    env["ORTHANC__DICTIONARY"] = json.dumps(DICTIONARY)
    with images.running(ref, env, USER, password) as (client, container):
        assert images.plugins(client) == DEFAULTS[image] == images.defaults(image)
        # A private tag declared in the configuration's Dictionary is named.
        data, _ = smoke.make_dicom()
        data = images.with_private_tags(data, {(0x00E1, 0x10C2): ("UI", "1.2.826.0.1.3680043.2.1125.1")},
                                        "ELSCINT1", 0x00E1)
        stored = images.upload(client, data)
        tags = client.json("GET", f"/instances/{stored['ID']}/tags")
        assert tags[PRIVATE_TAG]["Name"] == PRIVATE_NAME, tags.get(PRIVATE_TAG)
        assert tags[PRIVATE_TAG]["Value"] == "1.2.826.0.1.3680043.2.1125.1"
        # A series modification with Replace and Force succeeds.
        body = json.dumps({"Replace": {"SeriesDescription": "modified", "SeriesInstanceUID": "1.2.3.4.5"},
                           "Force": True}).encode()
        modified = client.json("POST", f"/series/{stored['ParentSeries']}/modify", body)
        series = client.json("GET", f"/series/{modified['ID']}")
        assert series["MainDicomTags"]["SeriesDescription"] == "modified"
        assert series["MainDicomTags"]["SeriesInstanceUID"] == "1.2.3.4.5"
        text = images.logs(container)
    samples = [name for name in OPT_IN if name in images.plugin_files(ref)]
    assert samples == list(OPT_IN) or images.version() < (1, 12), (images.VERSION, samples)
    notes = [line for line in text.splitlines() if "plugins not loaded by default:" in line]
    for name in samples:
        assert len(notes) == 1 and f"{name} (" in notes[0], notes
    assert not images.ERROR_LINE.search(text), text


@pytest.mark.parametrize("image", images.IMAGES)
def test_each_opt_in_sample_plugin_switched_on_does_its_job(image):
    ref = images.built(image)
    if not set(OPT_IN) & images.plugin_files(ref):
        pytest.skip(f"Orthanc {images.VERSION} has none of the samples {', '.join(OPT_IN)}")
    env, password = users()
    env.update({
        "HOUSEKEEPER_PLUGIN_ENABLED": "true",
        "DELAYED_DELETION_PLUGIN_ENABLED": "true",
        "MULTITENANTDICOM_PLUGIN_ENABLED": "true",  # the name without its inner underscore works too
        "ORTHANC__MULTITENANT_DICOM": json.dumps({"Servers": [{"AET": "TENANT", "Port": 4243,
                                                               "Labels": ["tenant-a"]}]}),
        "ORTHANC__DICOM_MODALITIES": json.dumps({"tenant": ["TENANT", "127.0.0.1", 4243]}),
    })
    with images.running(ref, env, USER, password) as (client, container):
        assert images.plugins(client) == DEFAULTS[image] | {"housekeeper", "delayed-deletion", "multitenant-dicom"}
        # Housekeeper: switched on, it is enabled, and its status route answers.
        assert "LastProcessedChange" in client.json("GET", "/plugins/housekeeper/status")
        # MultitenantDicom: its own DICOM server stores what it receives, with the tenant's label.
        stored = images.upload(client)
        job = client.json("POST", "/modalities/tenant/store",
                          json.dumps({"Resources": [stored["ID"]], "Synchronous": True}).encode())
        assert job.get("FailedInstancesCount", 0) == 0, job
        assert "tenant-a" in client.json("GET", f"/instances/{stored['ID']}/labels")
        # DelayedDeletion: a deleted instance's file is removed in the background.
        status, _ = client.request("DELETE", f"/instances/{stored['ID']}")
        assert status == 200
        assert "FilesPendingDeletion" in client.json("GET", "/plugins/delayed-deletion/status")
        text = images.logs(container)
    assert "Housekeeper plugin is disabled" not in text  # switching on enables it
    assert "Started multitenant DICOM server listening with AET TENANT" in text


def test_database_plugins_load_when_configured_or_switched_on(tmp_path):
    ref = images.built("orthanc-plugins")
    env, password = users()
    # Configured: PostgreSQL through ORTHANC_JSON, MySQL through a configuration file (both idle).
    mysql = tmp_path / "mysql.json"
    mysql.write_text('{\n  // idle\n  "MySQL": {"EnableIndex": false, "EnableStorage": false}\n}\n')
    mysql.chmod(0o644)
    env["ORTHANC_JSON"] = json.dumps({"PostgreSQL": {"EnableIndex": False, "EnableStorage": False}})
    with images.running(ref, env, USER, password, options=["-v", f"{mysql}:/etc/orthanc/mysql.json:ro"]) \
            as (client, _):
        assert images.plugins(client) == DEFAULTS["orthanc-plugins"] | {
            "postgresql-index", "postgresql-storage", "mysql-index", "mysql-storage"}
    # Switched on without any configuration: a clear line, and Orthanc starts all the same.
    env, password = users()
    env.update({"POSTGRESQL_PLUGIN_ENABLED": "true", "MULTITENANT_DICOM_PLUGIN_ENABLED": "true",
                "DICOM_WEB_PLUGIN_ENABLED": "false", "ORTHANC_WEB_VIEWER_PLUGIN_ENABLED": "false",
                "WORKLISTS_PLUGIN_ENABLED": "false"})
    with images.running(ref, env, USER, password) as (client, container):
        assert images.plugins(client) == {"serve-folders", "gdcm", "wsi", "postgresql-index", "postgresql-storage",
                                          "multitenant-dicom"}
        images.upload(client)  # into Orthanc's own index and storage
        text = images.logs(container)
    assert ("plugin OrthancPostgreSQLIndex switched on, but the configuration has no PostgreSQL: it loads and "
            "does nothing") in text
    assert "plugin MultitenantDicom switched on, but the configuration has no MultitenantDicom.Servers" in text
    assert "plugin OrthancDicomWeb switched off (DICOM_WEB_PLUGIN_ENABLED=false)" in text


def test_a_switch_that_is_not_true_or_false_is_one_line():
    proc = images.docker("run", "--rm", "-e", "ORTHANC__REGISTERED_USERS={\"a\": \"b\"}",
                         "-e", "HOUSEKEEPER_PLUGIN_ENABLED=maybe", images.built("orthanc"), check=False)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        "docker-entrypoint: HOUSEKEEPER_PLUGIN_ENABLED=maybe: want true or false"]
