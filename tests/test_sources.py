"""Source planning and the local provider (no network)."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tools.configuration import config
from tools.planning import dockerfile, sources

ROOT = Path(__file__).resolve().parent.parent
CFG = config.load(ROOT / "versions.toml")


def test_real_dockerfile_takes_every_source_as_a_named_context():
    used = dockerfile.named_contexts((ROOT / "dockerfiles" / "Dockerfile").read_text())
    assert used == {sources.context_name(c) for c in config.COMPONENTS} | \
        {sources.assets_context(c) for c in ("dicomweb", "webviewer", "wsi")} | {"debian-lock"}
    assert dockerfile.named_contexts((ROOT / "tests" / "fixture" / "Dockerfile").read_text()) == set()


def test_each_image_needs_its_components():
    release = CFG.sets["1.10.1"]
    assert [w.component.name for w in sources.pinned_sources(CFG, release, ["orthanc"])] == ["orthanc"]
    assert [w.component.name for w in sources.pinned_sources(CFG, release, ["orthanc", "orthanc-plugins"])] == \
        list(config.COMPONENTS)
    wanted = sources.pinned_sources(CFG, release, ["orthanc-plugins"])
    assert {w.debian_package for w in wanted} == {
        "orthanc", "orthanc-postgresql", "orthanc-mysql", "orthanc-dicomweb", "orthanc-gdcm",
        "orthanc-webviewer", "orthanc-wsi"}


def test_local_tree_is_used_and_keyed_by_pin(tmp_path):
    item = sources.pinned_sources(CFG, CFG.sets["1.10.1"], ["orthanc"])[0]
    tree = tmp_path / "orthanc" / "debian-1.10.1+dfsg-2+deb12u1"
    tree.mkdir(parents=True)
    assert sources.fetch(tmp_path, item, ("local",), "1.10.1") == tree
    assert sources.expected_paths(tmp_path, [item], ("local", "debian")) == {"src-orthanc": tree}


def test_nothing_reachable_is_one_line_naming_set_component_and_reasons(tmp_path):
    item = sources.pinned_sources(CFG, CFG.sets["1.9.0"], ["orthanc"])[0]
    with pytest.raises(sources.SourceError) as info:
        sources.fetch(tmp_path, item, ("local", "debian"), "1.9.0")
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("set '1.9.0': component 'orthanc' (Orthanc-1.9.0): source not reachable;")
    assert "local: no tree under" in message and "debian: no Debian version pinned" in message


def test_build_of_a_set_without_reachable_sources_stops_before_building(tmp_path):
    results = tmp_path / "builds.jsonl"
    proc = subprocess.run([sys.executable, "-m", "tools", "build", "--set", "1.13.0", "--platform", "amd64",
                           "--source", "local,debian", "--sources-dir", str(tmp_path / "src"),
                           "--results", str(results)], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: set '1.13.0': 7 sources not reachable: component 'orthanc' (Orthanc-1.13.0): ")
    assert len(proc.stderr.strip().splitlines()) == 1
    assert "docker buildx build" not in proc.stdout
    assert not results.exists()


def _serve(directory):
    """A real HTTP server on a free local port, serving ``directory``."""
    import functools
    import http.server
    import threading
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def _tarball(path, top="OrthancGdcm-9.9"):
    import io
    import tarfile
    with tarfile.open(path, "w:gz") as tar:
        data = b"project(OrthancGdcm)\n"
        info = tarfile.TarInfo(f"{top}/CMakeLists.txt")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    import hashlib
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _item(url, sha256):
    from dataclasses import replace
    item = next(w for w in sources.pinned_sources(CFG, CFG.sets["1.10.1"], ["orthanc-plugins"]) if w.component.name == "gdcm")
    return replace(item, pin=replace(item.pin, sha256=sha256, tarball=url, debian=None))


def test_tarball_is_downloaded_verified_and_unpacked(tmp_path):
    served = tmp_path / "www"
    served.mkdir()
    digest = _tarball(served / "OrthancGdcm-9.9.tar.gz")
    server = _serve(served)
    try:
        url = f"http://127.0.0.1:{server.server_port}/OrthancGdcm-9.9.tar.gz"
        tree = sources.fetch(tmp_path / "src", _item(url, digest), ("local", "tarball"), "1.10.1")
    finally:
        server.shutdown()
    assert tree == tmp_path / "src" / "gdcm" / f"tarball-{digest}"
    assert (tree / "CMakeLists.txt").read_text() == "project(OrthancGdcm)\n"
    # Next time the local provider finds it without the network.
    assert sources.fetch(tmp_path / "src", _item("http://127.0.0.1:9/gone", digest), ("local",), "1.10.1") == tree


def test_tarball_checksum_mismatch_stops_and_keeps_nothing(tmp_path):
    served = tmp_path / "www"
    served.mkdir()
    _tarball(served / "OrthancGdcm-9.9.tar.gz")
    url = (served / "OrthancGdcm-9.9.tar.gz").as_uri()  # file:// works too: a mirror on disk
    with pytest.raises(sources.SourceError) as info:
        sources.fetch(tmp_path / "src", _item(url, "0" * 64), ("tarball",), "1.10.1")
    message = str(info.value)
    assert "\n" not in message and "source not reachable" in message
    assert f"tarball: {url}: checksum mismatch (sha256 " in message and f"pinned {'0' * 64})" in message
    assert not (tmp_path / "src" / "gdcm").exists()


def test_tarball_without_a_pinned_checksum_is_refused(tmp_path):
    with pytest.raises(sources.SourceError, match=r"tarball: no sha256 pinned for https://"):
        sources.fetch(tmp_path, _item("https://example.org/x.tar.gz", None), ("tarball",), "1.10.1")


def _orthanc_tree(root, url):
    tree = root / "orthanc" / "debian-1.10.1+dfsg-2+deb12u1"
    cmake = tree / "OrthancFramework" / "Resources" / "CMake"
    cmake.mkdir(parents=True)
    (cmake / "DcmtkConfiguration.cmake").write_text(
        f'DownloadPackage("abc" "{url}/dcmtk-3.6.5.zip" "x")\nDownloadPackage("def" "{url}/boost.tar.gz" "y")\n')
    (cmake / "Other.cmake").write_text('set(X "https://elsewhere.example.org/ThirdPartyDownloads")\n')
    return tree


def test_third_party_url_is_read_from_the_source(tmp_path):
    tree = _orthanc_tree(tmp_path, "http://orthanc.example.org/ThirdPartyDownloads")
    assert sources.third_party_url(tree) == "http://orthanc.example.org/ThirdPartyDownloads"
    assert sources.third_party_url(tmp_path / "nothing") is None


def test_static_build_fails_early_when_the_downloads_are_out_of_reach(tmp_path):
    _orthanc_tree(tmp_path / "src", "http://127.0.0.1:9/ThirdPartyDownloads")  # nothing listens on port 9
    results = tmp_path / "builds.jsonl"
    proc = subprocess.run([sys.executable, "-m", "tools", "build", "--set", "1.10.1", "--platform", "amd64",
                           "--image", "orthanc", "--static", "--source", "local", "--sources-dir",
                           str(tmp_path / "src"), "--results", str(results)], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("error: --static: set '1.10.1': the static build downloads third-party code "
                                  "from http://127.0.0.1:9/ThirdPartyDownloads, which is not reachable (")
    assert len(proc.stderr.strip().splitlines()) == 1
    # Stopped before any build: not the hour a failing download would cost mid-build.
    assert "docker buildx build" not in proc.stdout and not results.exists()


def test_static_build_passes_its_argument():
    from tools.planning import spec
    assert spec.build_args(CFG, "1.10.1", "", emulate=False, static=True)["LIBRARIES"] == "static"


def test_the_toolchain_is_a_build_argument_and_gcc_the_default():
    from tools.planning import spec
    assert spec.build_args(CFG, "1.10.1", "", emulate=False, static=False)["TOOLCHAIN"] == "gcc"
    assert spec.build_args(CFG, "1.10.1", "", emulate=False, static=False, toolchain="clang")["TOOLCHAIN"] == "clang"
    assert spec.BuildRequest().toolchain is None  # versions.toml's settings.toolchain


def test_a_build_without_plugins_still_passes_every_context_the_dockerfile_names():
    # BuildKit resolves every context a Dockerfile names, even of stages it will not build: one
    # not passed is looked up as an image on Docker Hub, which fails offline.
    proc = subprocess.run([sys.executable, "-m", "tools", "build", "--set", "1.10.1", "--image", "orthanc-plugins",
                           "--platform", "amd64", "--without", "wsi", "--without", "dicomweb", "--dry-run"],
                          cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    passed = set(re.findall(r"--build-context ([A-Za-z0-9_.-]+)=", proc.stdout))
    named = dockerfile.named_contexts((ROOT / "dockerfiles" / "Dockerfile").read_text())
    assert named <= passed
    assert {"build-wsi", "build-dicomweb"} <= passed  # the left-out stages, replaced


def _answers(*answers: tuple[int, str]):
    """A client whose successive calls return these (returncode, stderr) pairs; the calls are counted."""
    calls = []

    def call() -> subprocess.CompletedProcess:
        code, err = answers[len(calls)]
        calls.append(code)
        return subprocess.CompletedProcess([], code, "", err)
    return call, calls


def test_a_busy_server_is_asked_again_and_a_folder_half_made_is_removed_first(tmp_path):
    made = tmp_path / "clone"
    call, calls = _answers((255, "abort: HTTP Error 500: Internal Server Error"), (0, ""))

    def cloning():
        assert not made.exists(), "the half-made clone of the first try was not removed"
        made.mkdir()
        return call()
    assert sources.retry_transient(cloning, fresh=made, pause=0).returncode == 0
    assert calls == [255, 0]


def test_a_lasting_failure_is_not_asked_again_and_a_busy_one_only_so_often():
    call, calls = _answers((255, "abort: unknown branch 'OrthancGdcm-9.9'"))
    assert sources.retry_transient(call, pause=0).returncode == 255 and calls == [255]
    call, calls = _answers(*[(255, "abort: HTTP Error 503: Service Unavailable")] * sources.ATTEMPTS)
    assert sources.retry_transient(call, pause=0).returncode == 255 and len(calls) == sources.ATTEMPTS
