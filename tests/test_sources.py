"""Source planning and the local provider (no network)."""

from pathlib import Path

import pytest

from tools import config, dockerfile, sources

ROOT = Path(__file__).resolve().parent.parent
CFG = config.load(ROOT / "versions.toml")


def test_real_dockerfile_takes_every_source_as_a_named_context():
    used = dockerfile.named_contexts((ROOT / "dockerfiles" / "Dockerfile").read_text())
    assert used == {sources.context_name(c) for c in config.COMPONENTS}
    assert dockerfile.named_contexts((ROOT / "tests" / "fixture" / "Dockerfile").read_text()) == set()


def test_each_image_needs_its_components():
    release = CFG.sets["1.10.1"]
    assert [w.component.name for w in sources.plan(CFG, release, ["orthanc"])] == ["orthanc"]
    assert [w.component.name for w in sources.plan(CFG, release, ["orthanc", "orthanc-plugins"])] == \
        list(config.COMPONENTS)
    wanted = sources.plan(CFG, release, ["orthanc-plugins"])
    assert {w.debian_package for w in wanted} == {
        "orthanc", "orthanc-postgresql", "orthanc-mysql", "orthanc-dicomweb", "orthanc-gdcm",
        "orthanc-webviewer", "orthanc-wsi"}


def test_local_tree_is_used_and_keyed_by_pin(tmp_path):
    item = sources.plan(CFG, CFG.sets["1.10.1"], ["orthanc"])[0]
    tree = tmp_path / "orthanc" / "debian-1.10.1+dfsg-2+deb12u1"
    tree.mkdir(parents=True)
    assert sources.fetch(tmp_path, item, ("local",), "1.10.1") == tree
    assert sources.expected_paths(tmp_path, [item], ("local", "debian")) == {"src-orthanc": tree}


def test_nothing_reachable_is_one_line_naming_set_component_and_reasons(tmp_path):
    item = sources.plan(CFG, CFG.sets["1.9.0"], ["orthanc"])[0]
    with pytest.raises(sources.SourceError) as info:
        sources.fetch(tmp_path, item, ("local", "debian"), "1.9.0")
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("set '1.9.0': component 'orthanc' (Orthanc-1.9.0): source not reachable;")
    assert "local: no tree under" in message and "debian: no Debian version pinned" in message


def test_build_of_a_set_without_reachable_sources_stops_before_building(tmp_path):
    import subprocess
    import sys
    results = tmp_path / "builds.jsonl"
    proc = subprocess.run([sys.executable, "-m", "tools", "build", "--set", "1.13.0", "--platform", "amd64",
                           "--source", "local,debian", "--sources-dir", str(tmp_path / "src"),
                           "--results", str(results)], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: set '1.13.0': component 'orthanc' (Orthanc-1.13.0): source not reachable")
    assert len(proc.stderr.strip().splitlines()) == 1
    assert "docker buildx build" not in proc.stdout
    assert not results.exists()
