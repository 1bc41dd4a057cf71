"""Real buildx builds of the fixture Dockerfile: tags, pushes, platforms, results, manifests."""

from __future__ import annotations

import subprocess
import time

import pytest

from tools.configuration import config
from tools.running import results
from tools.planning import schedule

from .conftest import FIXTURE, INDEX_TYPES, REGISTRY, docker, platforms, registry_get, tags

BUILDERS = [f"build-{c}" for c in config.COMPONENTS]


@pytest.fixture(scope="module")
def pushed(fixture_builds):
    """Set 2.0.0 pushed per platform (amd64 native, armv7 emulated), both images."""
    fixture_builds.build("--set", "2.0.0", "--platform", "amd64", "--platform", "armv7", "--push")
    return fixture_builds


def test_per_platform_tags_are_in_the_registry(pushed):
    for image in config.IMAGES:
        assert {"2.0.0-amd64", "2.0.0-armv7"} <= tags(pushed.repo(image))
        assert platforms(pushed.repo(image), "2.0.0-amd64") == {"linux/amd64"}
        assert platforms(pushed.repo(image), "2.0.0-armv7") == {"linux/arm/v7"}
        # Provenance attestation is kept on: an attestation manifest beside the image.
        index = registry_get(f"{pushed.repo(image)}/manifests/2.0.0-armv7", INDEX_TYPES)
        kinds = [m.get("annotations", {}).get("vnd.docker.reference.type") for m in index["manifests"]]
        assert "attestation-manifest" in kinds


def test_results_record_every_build(pushed):
    records = [r for r in pushed.records() if r["set"] == "2.0.0" and r["pushed"]]
    assert sorted((r["image"], r["platforms"][0]) for r in records) == [
        ("orthanc", "amd64"), ("orthanc", "armv7"), ("orthanc-plugins", "amd64"), ("orthanc-plugins", "armv7")]
    for record in records:
        assert record["status"] == "ok"
        assert record["digest"].startswith("sha256:")
        assert record["wall_seconds"] > 0
        assert "sequential" not in record and "scheduler" not in record  # one buildx call, no limits
        assert record["host"]["cores"] >= 1
        assert record["emulated"] is (record["platforms"] != ["amd64"])
        assert record["tags"] == [f"{REGISTRY}/{pushed.repo(record['image'])}:2.0.0-{record['platforms'][0]}"]
    plugins = next(r for r in records if r["image"] == "orthanc-plugins")
    assert {s["stage"] for s in plugins["stages"]} >= set(BUILDERS)


def test_armv7_image_runs_under_emulation_with_its_branches(pushed):
    ref = f"{REGISTRY}/{pushed.repo('orthanc-plugins')}:2.0.0-armv7"
    docker("pull", "--quiet", "--platform", "linux/arm/v7", ref)
    out = docker("run", "--rm", "--platform", "linux/arm/v7", ref, "sh", "-c",
                 "uname -m; cat /usr/share/orthanc/core/branch /usr/share/orthanc/core/arch "
                 "/usr/share/orthanc/plugins/postgresql/branch /usr/share/orthanc/plugins/wsi/branch")
    # Runtime on armv7 (emulated); the builder ran on the build machine (cross, the default).
    assert out.split() == ["armv7l", "Orthanc-2.0.0", "x86_64", "OrthancPostgreSQL-9.1", "OrthancWSI-9.6"]
    labels = docker("image", "inspect", "--format", "{{json .Config.Labels}}", ref)
    assert '"org.opencontainers.image.version":"2.0.0"' in labels
    assert '"org.orthanc-images.wsi.version":"9.6"' in labels


def test_manifest_publishes_every_platform_and_aliases(pushed):
    proc = pushed.manifest("2.0.0")
    assert proc.returncode == 0, proc.stderr
    for image in config.IMAGES:
        assert platforms(pushed.repo(image), "2.0.0") == {"linux/amd64", "linux/arm/v7"}
        # 2.1.0 is the highest set, so 2.0.0 carries the minor alias only.
        assert platforms(pushed.repo(image), "2.0") == {"linux/amd64", "linux/arm/v7"}
        assert "latest" not in tags(pushed.repo(image))
    ref = f"{REGISTRY}/{pushed.repo('orthanc-plugins')}:2.0.0"
    for platform, machine in (("linux/arm/v7", "armv7l"), ("linux/amd64", "x86_64")):
        docker("pull", "--quiet", "--platform", platform, ref)
        assert docker("run", "--rm", "--platform", platform, ref, "uname", "-m").strip() == machine


def test_manifest_refuses_and_pushes_nothing_when_a_platform_is_missing(fixture_builds):
    fixture_builds.build("--set", "2.1.0", "--platform", "amd64", "--image", "orthanc", "--push")
    proc = fixture_builds.manifest("2.1.0", "--image", "orthanc")
    assert proc.returncode == 1
    assert f"missing in the registry: {REGISTRY}/{fixture_builds.repo('orthanc')}:2.1.0-arm64" in proc.stderr
    assert f"{fixture_builds.repo('orthanc')}:2.1.0-armv7" in proc.stderr
    assert "nothing pushed" in proc.stderr
    assert not {"2.1.0", "latest", "2.1"} & tags(fixture_builds.repo("orthanc"))


def test_together_builds_one_multi_platform_tag(fixture_builds, namespace):
    """The seed's emulated workflow: every platform in one emulated buildx call, pushed."""
    fixture_builds.build("--set", "2.0.0", "--together", "--emulate", "--push", "--namespace", namespace + "-together")
    for image in config.IMAGES:
        repo = f"{namespace}-together/{image}"
        assert tags(repo) == {"2.0.0"}
        assert platforms(repo, "2.0.0") == {"linux/amd64", "linux/arm/v7"}
    ref = f"{REGISTRY}/{namespace}-together/orthanc-plugins:2.0.0"
    for platform, machine in (("linux/arm/v7", "armv7l"), ("linux/amd64", "x86_64")):
        docker("pull", "--quiet", "--platform", platform, ref)
        out = docker("run", "--rm", "--platform", platform, ref, "sh", "-c",
                     "uname -m; cat /usr/share/orthanc/plugins/wsi/arch")
        assert out.split() == [machine, machine]  # emulated: the builders ran on the target too


def test_failed_build_is_recorded_and_exits_non_zero(fixture_builds):
    proc = fixture_builds.build("--set", "2.0.0", "--platform", "amd64", "--image", "orthanc",
                                "--base-registry", f"{REGISTRY}/no-such-base", "--push",
                                "--namespace", fixture_builds.namespace + "-failed", check=False)
    assert proc.returncode == 1
    assert "error: build of orthanc:2.0.0-amd64 failed" in proc.stderr
    last = fixture_builds.records()[-1]
    assert (last["status"], last["digest"], last["image"]) == ("failed", None, "orthanc")
    assert tags(fixture_builds.namespace + "-failed/orthanc") == set()


def intervals(record: dict) -> list[tuple[float, float, str]]:
    stages = {s["stage"]: s for s in record["stages"]}
    assert set(BUILDERS) <= set(stages), sorted(stages)
    return sorted((stages[b]["started"], stages[b]["completed"], b) for b in BUILDERS)


@pytest.mark.parametrize("platform", ["amd64", "armv7"])
def test_sequential_runs_builders_one_after_another_and_parallel_does_not(fixture_builds, platform):
    for flag in ("--sequential", None):
        fixture_builds.build("--set", "2.0.0", "--platform", platform, "--image", "orthanc-plugins",
                             "--no-cache", *([flag] if flag else []))
    sequential, parallel = fixture_builds.records()[-2:]
    # --sequential is a limit of one stage (and one compile job) at a time, recorded as such.
    assert sequential["scheduler"]["max_parallel"] == 1 and sequential["compile_jobs"] == 1
    assert "scheduler" not in parallel
    assert sequential["scheduler"]["max_concurrent"] == 1
    assert [j["target"] for j in sequential["jobs"]] == ["builder", *BUILDERS, "orthanc-plugins"]
    seq = intervals(sequential)
    for (_, end, name), (start, _, nxt) in zip(seq, seq[1:]):
        assert start >= end - 0.05, f"{nxt} started {end - start:.2f}s before {name} ended"
    par = intervals(parallel)
    overlaps = sum(1 for (_, end, _), (start, _, _) in zip(par, par[1:]) if start < end - 1)
    assert overlaps >= 3, par
    # Every builder sleeps 3 s: one after another takes at least 7 x 3 s of builder time.
    assert seq[-1][1] - seq[0][0] >= 21
    assert par[-1][1] - par[0][0] < seq[-1][1] - seq[0][0]


def most_at_once(record: dict) -> int:
    return schedule.max_concurrency([(s, e) for s, e, _ in intervals(record)])


def test_max_parallel_bounds_the_builders_and_keeps_the_image_whole(fixture_builds):
    fixture_builds.build("--set", "2.0.0", "--platform", "amd64", "--image", "orthanc-plugins",
                         "--no-cache", "--max-parallel", "2", "--push")
    record = fixture_builds.records()[-1]
    assert record["status"] == "ok" and record["digest"].startswith("sha256:")
    assert record["scheduler"] == {"max_parallel": 2, "memory_budget_bytes": None, "max_concurrent": 2}
    assert most_at_once(record) == 2  # never three builders at once, but two at times
    # --no-cache rebuilt each stage once, in the job that owns it: the final job found them cached.
    final = next(j for j in record["jobs"] if j["target"] == "orthanc-plugins")
    assert not final["cached"] and all(not j["cached"] for j in record["jobs"])
    ref = f"{REGISTRY}/{fixture_builds.repo('orthanc-plugins')}:2.0.0-amd64"
    docker("pull", "--quiet", ref)
    out = docker("run", "--rm", ref, "cat", "/usr/share/orthanc/core/branch",
                 "/usr/share/orthanc/plugins/wsi/branch")
    assert out.split() == ["Orthanc-2.0.0", "OrthancWSI-9.6"]


@pytest.mark.parametrize("budget,expected", [("4GiB", 2), ("1GiB", 1)])
def test_memory_budget_bounds_the_builders(fixture_builds, tmp_path, budget, expected):
    """No solo run is recorded in a fresh results file: each job is estimated at the default."""
    assert schedule.DEFAULT_JOB_MEMORY == 2 * 2**30
    fresh = tmp_path / "builds.jsonl"
    fixture_builds.build("--set", "2.0.0", "--platform", "amd64", "--image", "orthanc-plugins",
                         "--no-cache", "--memory-budget", budget, "--results", str(fresh))
    found, _ = results.read(fresh)
    record = found[-1]
    assert record["scheduler"]["max_concurrent"] == expected
    assert most_at_once(record) == expected


def test_bumping_one_component_rebuilds_that_stage_only(fixture_builds, tmp_path):
    base = ["--set", "2.0.0", "--platform", "amd64", "--image", "orthanc-plugins", "--max-parallel", "2"]
    fixture_builds.build(*base)
    bumped = tmp_path / "versions.toml"
    # A version never built before on this host (BuildKit's cache outlives test runs).
    patch = time.time_ns()
    bumped.write_text((FIXTURE / "versions.toml").read_text().replace('postgresql = "9.1"\nmysql = "9.2"\ndicomweb = "9.3"\ngdcm = "9.4"\nwebviewer = "9.5"\nwsi = "9.6"',
                                                                      f'postgresql = "9.1.{patch}"\nmysql = "9.2"\ndicomweb = "9.3"\ngdcm = "9.4"\nwebviewer = "9.5"\nwsi = "9.6"', 1))
    fixture_builds.build(*base, "--config", str(bumped))
    record = fixture_builds.records()[-1]
    ran = {s["stage"] for s in record["stages"] if not s["cached"]}
    assert ran & set(BUILDERS) == {"build-postgresql"}
    assert "orthanc-plugins" in ran  # the assembly copies the new plugin
    assert [j["target"] for j in record["jobs"] if not j["cached"]] == ["build-postgresql", "orthanc-plugins"]


def test_emulate_runs_the_builders_on_the_target_platform(fixture_builds, namespace):
    fixture_builds.build("--set", "2.0.0", "--platform", "armv7", "--image", "orthanc", "--emulate", "--push",
                         "--namespace", namespace + "-emulated")
    ref = f"{REGISTRY}/{namespace}-emulated/orthanc:2.0.0-armv7"
    docker("pull", "--quiet", "--platform", "linux/arm/v7", ref)
    out = docker("run", "--rm", "--platform", "linux/arm/v7", ref, "cat", "/usr/share/orthanc/core/arch")
    assert out.strip() == "armv7l"
    assert fixture_builds.records()[-1]["compiler"] == "emulated"


def test_build_cache_is_shared_through_the_registry(fixture_builds, namespace):
    ns = namespace + "-cache"
    fixture_builds.build("--set", "2.0.0", "--platform", "armv7", "--image", "orthanc-plugins",
                         "--cache-registry", "--push", "--namespace", ns)
    assert tags(f"{ns}/build-cache") == {"orthanc-plugins-2.0.0-armv7"}
    # A second host (here: a second call) imports it; every builder stage is then cached.
    fixture_builds.build("--set", "2.0.0", "--platform", "armv7", "--image", "orthanc-plugins",
                         "--cache-registry", "--push", "--namespace", ns)
    stages = {s["stage"]: s for s in fixture_builds.records()[-1]["stages"]}
    assert all(stages[b]["cached"] for b in BUILDERS)


def test_named_builder_with_the_docker_driver(fixture_builds, namespace):
    """--builder NAME where NAME is a docker context: how a second engine (a Pi) is named here.

    buildx creates no second docker-driver builder ("additional instances of driver docker cannot be
    created"), and a docker-container builder needs the buildkit image from Docker Hub.
    """
    name = "orthanc-test-context"
    subprocess.run(["docker", "context", "rm", "-f", name], capture_output=True)
    docker("context", "create", name, "--docker", "host=unix:///var/run/docker.sock")
    try:
        ns = f"{namespace}-context"
        proc = fixture_builds.build("--set", "2.0.0", "--platform", "amd64", "--image", "orthanc", "--push",
                                    "--builder", name, "--namespace", ns)
        assert f"docker --context {name} buildx build" in proc.stdout
        assert tags(f"{ns}/orthanc") == {"2.0.0-amd64"}
    finally:
        subprocess.run(["docker", "context", "rm", "-f", name], capture_output=True)
