"""Reproducible builds of the fixture Dockerfile with real buildx, a real registry and docker load:
two builds from nothing give one digest, a changed pin gives another (and the files that differ
are named), and a pushed image's provenance and SBOM are readable."""

from __future__ import annotations

import json

import pytest

from .conftest import FIXTURE, REGISTRY, docker, tools_cli


def reproduce(namespace: str, results, config=FIXTURE / "versions.toml", *args: str):
    return tools_cli("reproduce", "--config", str(config), "--dockerfile", str(FIXTURE / "Dockerfile"),
                     "--results", str(results), "--namespace", namespace, "--set", "2.0.0", "--platform", "amd64",
                     "--image", "orthanc-plugins", "--keep-compiler-cache", *args)


@pytest.fixture(scope="module")
def twice(namespace, tmp_path_factory):
    """``reproduce`` with no earlier record: two builds from nothing, compared."""
    results = tmp_path_factory.mktemp("reproduce") / "builds.jsonl"
    proc = reproduce(f"{namespace}-rep", results)
    return proc, results


def records(results) -> list[dict]:
    return [json.loads(line) for line in results.read_text().splitlines() if line.strip()]


def test_two_builds_from_nothing_give_one_digest(twice, namespace):
    proc, results = twice
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "building it twice" in proc.stdout
    first, second = records(results)
    for record in (first, second):
        assert record["status"] == "ok" and record["reproducible"] and record["no_cache"]
        assert record["source_date_epoch"] == 0  # the fixture has no source to date it
        assert record["config_digest"].startswith("sha256:") and record["build_ref"]
    assert first["platform_digests"]["amd64"] == second["platform_digests"]["amd64"]
    assert f"is reproducible: {second['platform_digests']['amd64']}" in proc.stdout
    # The image was loaded from the archive as it is (its index: the image and its provenance).
    ref = f"{REGISTRY}/{namespace}-rep/orthanc-plugins:2.0.0-amd64"
    assert docker("image", "inspect", "--format", "{{.Id}}", ref).strip() == second["digest"]
    assert docker("image", "inspect", "--format", "{{.Created}}", ref).startswith("1970-01-01")


def test_a_changed_pin_changes_the_digest_and_the_file_is_named(twice, namespace, tmp_path):
    proc, results = twice
    assert proc.returncode == 0
    changed = tmp_path / "versions.toml"
    text = (FIXTURE / "versions.toml").read_text()
    assert 'wsi = "9.6"' in text
    changed.write_text(text.replace('wsi = "9.6"', 'wsi = "9.7"', 1))
    proc = reproduce(f"{namespace}-rep", results, changed)
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "orthanc-plugins:2.0.0-amd64 differs" in proc.stdout
    assert "/usr/share/orthanc/plugins/wsi/branch: content\n" in proc.stdout
    last = records(results)[-1]
    assert last["platform_digests"]["amd64"] != records(results)[0]["platform_digests"]["amd64"]


def sbom_packages(ref: str, platform: str) -> tuple[dict, dict[str, str]]:
    """The image's SBOM as ``imagetools inspect`` reads it: the SPDX document, and its Debian packages
    by name (their purls say deb)."""
    found = json.loads(docker("buildx", "imagetools", "inspect", ref, "--format", "{{json .SBOM}}"))
    spdx = (found[platform] if platform in found else found)["SPDX"]
    debs = {p["name"]: p.get("versionInfo", "") for p in spdx.get("packages", [])
            if any(r.get("referenceLocator", "").startswith("pkg:deb/") for r in p.get("externalRefs", []))}
    return spdx, debs


def test_a_pushed_reproducible_image_carries_its_provenance_and_sbom(namespace, tmp_path):
    # A results file and a namespace of its own: the shared fixture builds count their pushed records.
    results = tmp_path / "builds.jsonl"
    tools_cli("build", "--config", str(FIXTURE / "versions.toml"), "--dockerfile", str(FIXTURE / "Dockerfile"),
              "--results", str(results), "--namespace", f"{namespace}-prov", "--set", "2.0.0",
              "--platform", "amd64", "--image", "orthanc", "--reproducible", "--push", check=True)
    ref = f"{REGISTRY}/{namespace}-prov/orthanc:2.0.0-amd64"
    provenance = json.loads(docker("buildx", "imagetools", "inspect", ref, "--format", "{{json .Provenance}}"))
    slsa = provenance["linux/amd64"]["SLSA"] if "linux/amd64" in provenance else provenance["SLSA"]
    assert slsa["invocation"]["parameters"]["frontend"] == "dockerfile.v0"
    spdx, debs = sbom_packages(ref, "linux/amd64")
    assert any(creator.startswith("Tool: syft-") for creator in spdx["creationInfo"]["creators"])
    assert "base-files" in debs and "libc6" in debs, sorted(debs)[:20]
    record = records(results)[-1]
    assert record["reproducible"] and record["pushed"]
    assert record["sbom_generator"].startswith("orthanc-images/sbom-generator:syft-")
    pushed = json.loads(docker("buildx", "imagetools", "inspect", ref, "--format", "{{json .Manifest}}"))
    assert record["platform_digests"]["amd64"] in {m["digest"] for m in pushed["manifests"]}


def test_a_pushed_cross_built_image_carries_an_sbom_of_its_own_platform(namespace, tmp_path):
    """An ordinary push (not reproducible) of a foreign platform: the generator runs on the build
    machine and lists the target's packages (armhf), with the provenance beside them."""
    results = tmp_path / "builds.jsonl"
    tools_cli("build", "--config", str(FIXTURE / "versions.toml"), "--dockerfile", str(FIXTURE / "Dockerfile"),
              "--results", str(results), "--namespace", f"{namespace}-att", "--set", "2.0.0",
              "--platform", "armv7", "--image", "orthanc", "--push", check=True)
    ref = f"{REGISTRY}/{namespace}-att/orthanc:2.0.0-armv7"
    spdx, debs = sbom_packages(ref, "linux/arm/v7")
    purls = [r["referenceLocator"] for p in spdx["packages"] for r in p.get("externalRefs", [])
             if r.get("referenceLocator", "").startswith("pkg:deb/debian/libc6@")]
    assert purls and all("arch=armhf" in purl for purl in purls), purls
    provenance = json.loads(docker("buildx", "imagetools", "inspect", ref, "--format", "{{json .Provenance}}"))
    assert provenance
