"""buildx command construction."""

from pathlib import Path

from tools.planning import buildx, schedule, spec
from tools.configuration import config, matrix

ROOT = Path(__file__).resolve().parent.parent
CFG = config.load(ROOT / "versions.toml")


FACTS = spec.Facts(host_platform="amd64", cores=4, created="2026-01-01T00:00:00+00:00", revision="abc123")
TEXT = (ROOT / "dockerfiles" / "Dockerfile").read_text()


def resolved(build, facts=FACTS, contexts=None, **kw):
    """The spec of ``build`` as the command line would ask for it."""
    base = dict(registry="127.0.0.1:5000", namespace="orthanc", base_registry="127.0.0.1:5000/library",
                dockerfile=ROOT / "dockerfiles" / "Dockerfile")
    base.update(kw)
    request = spec.BuildRequest(set_name=build.set_name, images=(build.image,), platforms=build.platforms,
                                together=len(build.platforms) > 1, **base)
    specs = spec.resolve(CFG, request, facts, contexts or {}, TEXT)
    assert len(specs) == 1
    return specs[0]


def pairs(cmd, flag):
    return [cmd[i + 1] for i, item in enumerate(cmd) if item == flag]


def command(build, **kw):
    return buildx.command(resolved(build, **kw), Path("/tmp/m.json"))


def test_per_platform_command():
    build = matrix.Build("1.9.0", "orthanc-plugins", ("armv7",))
    cmd = command(build)
    assert cmd[:3] == ["docker", "buildx", "build"]
    assert pairs(cmd, "--target") == ["orthanc-plugins"]
    assert pairs(cmd, "--platform") == ["linux/arm/v7"]
    assert pairs(cmd, "--tag") == ["127.0.0.1:5000/orthanc/orthanc-plugins:1.9.0-armv7"]
    assert pairs(cmd, "--file") == [str(ROOT / "dockerfiles" / "Dockerfile")]
    assert pairs(cmd, "--metadata-file") == ["/tmp/m.json"]
    assert pairs(cmd, "--progress") == ["rawjson"]
    assert "--load" in cmd and "--push" not in cmd and "--no-cache" not in cmd and "--builder" not in cmd
    assert cmd[-1] == str(ROOT / "dockerfiles")
    args = dict(a.split("=", 1) for a in pairs(cmd, "--build-arg"))
    assert args == {
        "BASE_IMAGE": "127.0.0.1:5000/library/debian:bullseye-slim",
        "TOOLCHAIN": "clang",  # versions.toml settings.toolchain
        "BUILDER": "cross",
        "ORTHANC_BRANCH": "Orthanc-1.9.0",
        "POSTGRESQL_BRANCH": "OrthancPostgreSQL-3.3",
        "MYSQL_BRANCH": "OrthancMySQL-3.0",
        "DICOMWEB_BRANCH": "OrthancDicomWeb-1.5",
        "GDCM_BRANCH": "OrthancGdcm-1.2",
        "WEBVIEWER_BRANCH": "OrthancWebViewer-2.7",
        "WSI_BRANCH": "OrthancWSI-1.0",
    }


def test_labels_name_the_set_and_every_component():
    cmd = command(matrix.Build("1.12.7", "orthanc", ("amd64",)))
    labels = dict(a.split("=", 1) for a in pairs(cmd, "--label"))
    assert labels["org.opencontainers.image.version"] == "1.12.7"
    assert labels["org.opencontainers.image.revision"] == "abc123"
    assert labels["org.opencontainers.image.created"] == "2026-01-01T00:00:00+00:00"
    assert labels["org.orthanc-images.postgresql.version"] == "6.2"
    assert labels["org.orthanc-images.wsi.version"] == "3.2"
    assert labels["org.orthanc-images.base"] == "trixie"


def test_together_push_builder_nocache():
    build = matrix.Build("1.10.1", "orthanc", ("amd64", "arm64", "armv7"))
    cmd = command(build, push=True, no_cache=True, builder="pis", registry="registry.example.org", namespace="")
    assert pairs(cmd, "--platform") == ["linux/amd64,linux/arm64,linux/arm/v7"]
    assert pairs(cmd, "--tag") == ["registry.example.org/orthanc:1.10.1"]
    assert pairs(cmd, "--builder") == ["pis"]
    assert "--push" in cmd and "--load" not in cmd and "--no-cache" in cmd
    assert pairs(cmd, "--file") == [str(ROOT / "dockerfiles" / "Dockerfile")]


def test_a_stage_job_fills_the_cache_only():
    build = matrix.Build("1.10.1", "orthanc-plugins", ("amd64",))
    stage = resolved(build, cache_registry=True, no_cache_filter=("build-gdcm",)).stage("build-gdcm", ("build-gdcm",))
    cmd = buildx.command(stage, Path("m.json"))
    assert pairs(cmd, "--target") == ["build-gdcm"]
    assert pairs(cmd, "--output") == ["type=cacheonly"]
    assert pairs(cmd, "--no-cache-filter") == ["build-gdcm"]
    assert "--tag" not in cmd and "--label" not in cmd and "--load" not in cmd and "--push" not in cmd
    assert len(pairs(cmd, "--cache-from")) == 2 and "--cache-to" not in cmd


def test_base_registry_override_for_docker_hub():
    cmd = command(matrix.Build("1.10.1", "orthanc", ("amd64",)), base_registry="")
    assert "BASE_IMAGE=debian:bookworm-slim" in pairs(cmd, "--build-arg")


def test_emulate_runs_builders_on_the_target():
    cmd = command(matrix.Build("1.10.1", "orthanc", ("armv7",)), emulate=True)
    assert "BUILDER=emulated" in pairs(cmd, "--build-arg")


def test_registry_cache_per_image_set_and_platform():
    cmd = command(matrix.Build("1.12.7", "orthanc-plugins", ("arm64",)), cache_registry=True)
    ref = "127.0.0.1:5000/orthanc/build-cache:orthanc-plugins-1.12.7-arm64"
    # Its own cache first, then the other image's of the same set: the core stages are the same in both.
    assert pairs(cmd, "--cache-from") == [f"type=registry,ref={ref}",
                                          "type=registry,ref=127.0.0.1:5000/orthanc/build-cache:orthanc-1.12.7-arm64"]
    # Another set exports elsewhere, so it never replaces this set's cached stages.
    other = command(matrix.Build("1.13.0", "orthanc-plugins", ("arm64",)), cache_registry=True)
    assert pairs(other, "--cache-to") == [
        "type=registry,ref=127.0.0.1:5000/orthanc/build-cache:orthanc-plugins-1.13.0-arm64,mode=max"]
    assert pairs(cmd, "--cache-to") == [f"type=registry,ref={ref},mode=max"]
    assert "--cache-from" not in command(matrix.Build("1.12.7", "orthanc", ("arm64",)))


def test_builder_that_is_a_docker_context():
    facts = spec.Facts(host_platform="amd64", cores=4, created="now", docker_context=True)
    cmd = command(matrix.Build("1.10.1", "orthanc", ("amd64",)), facts=facts, builder="pi4")
    assert cmd[:5] == ["docker", "--context", "pi4", "buildx", "build"]
    assert "--builder" not in cmd


def test_source_label_is_a_public_url_without_credentials():
    from tools.clone import public_url
    assert public_url("https://user:token@git.example.org/orthanc-images.git") == \
        "https://git.example.org/orthanc-images.git"
    assert public_url("/srv/git/orthanc-images") == ""
    assert public_url("") == ""


def test_compile_jobs_are_a_secret_never_a_build_argument():
    build = matrix.Build("1.13.0", "orthanc-plugins", ("armv7",))
    facts = spec.Facts(host_platform="amd64", cores=4, created="now", jobs_file=Path("/logs/x.jobs"))
    cmd = command(build, facts=facts, max_parallel=2)
    assert pairs(cmd, "--secret") == ["id=jobs,src=/logs/x.jobs"]
    assert not [a for a in pairs(cmd, "--build-arg") if "JOBS" in a]  # a build argument is in the cache key
    assert "--secret" not in command(build)
    # Every compile step of the Dockerfile may read it.
    text = (ROOT / "dockerfiles" / "Dockerfile").read_text()
    assert text.count("--mount=type=secret,id=jobs") == text.count("target=/ccache")


def test_a_scheduled_build_is_split_into_stage_jobs_and_the_image():
    build = matrix.Build("1.13.0", "orthanc-plugins", ("amd64",))
    whole = resolved(build, max_parallel=2, no_cache=True)
    jobs = schedule.split(whole)
    assert list(jobs) == whole.jobs.jobs and list(jobs)[-1] == "orthanc-plugins"
    final = jobs["orthanc-plugins"]
    assert final.output == "load" and final.tags == whole.tags and not final.no_cache
    for name, job in jobs.items():
        # --no-cache concerns the job that builds a stage first: the others find it cached.
        assert set(job.no_cache_filter) == whole.jobs.owns[name]
        if name != "orthanc-plugins":
            assert job.target == name and job.output == "cacheonly" and not job.tags and not job.labels


def test_a_spec_is_json():
    build = matrix.Build("1.12.7", "orthanc-plugins", ("arm64",))
    data = resolved(build, without=("wsi",), contexts={"build-wsi": "/empty"}).as_json()
    assert data["target"] == "orthanc-plugins" and data["platforms"] == ["linux/arm64"]
    assert data["labels"]["org.orthanc-images.without"] == "wsi" and data["without"] == ["wsi"]
    assert data["compiler"] == "cross" and data["jobs"] is None and data["output"] == "load"


def test_resolving_is_pure(monkeypatch):
    def nothing_runs(*args, **kwargs):
        raise AssertionError("resolve started a process")
    monkeypatch.setattr("subprocess.run", nothing_runs)
    monkeypatch.setattr("subprocess.Popen", nothing_runs)
    build = matrix.Build("1.13.0", "orthanc-plugins", ("armv7",))
    first = resolved(build, max_parallel=1, jobs=1, cache_registry=True, push=True)
    assert first == resolved(build, max_parallel=1, jobs=1, cache_registry=True, push=True)
    assert first.compiler == "cross" and first.output == "push" and first.limits.max_parallel == 1
    assert first.cache_to == "type=registry,ref=127.0.0.1:5000/orthanc/build-cache:orthanc-plugins-1.13.0-armv7,mode=max"
