"""Web assets: which items a tree needs, the catalogue, verified fetching and the layout.

No network: npm tarballs are made here and served from a folder (``REGISTRY`` points at it).
"""

import base64
import hashlib
import io
import tarfile
from pathlib import Path

import pytest

from tools.planning import web_assets
from tools.planning.web_assets import AssetError

JS_LIBRARIES = """
set(BASE_URL "https://example.invalid/downloads")  # DownloadPackage(x y "commented-out")
DownloadPackage("0" "${BASE_URL}/lib-1.0.zip" "${CMAKE_CURRENT_BINARY_DIR}/lib-1.0")
DownloadPackage("0" "${BASE_URL}/ol.tar.gz" "ol-package")
set(WIDGETS_DIR ${CMAKE_CURRENT_BINARY_DIR}/widgets-2.0)
DownloadPackage("0" "${BASE_URL}/widgets.tar.gz" "${WIDGETS_DIR}")
if (BUILD_POLYFILL)
  DownloadPackage("0" "${BASE_URL}/npm-only.tar.gz" "${CMAKE_CURRENT_BINARY_DIR}/npm-only")
else()
  DownloadCompressedFile("0" "${BASE_URL}/polyfill.js.gz" "${CMAKE_CURRENT_BINARY_DIR}/polyfill.min.js")
endif()
if (NOT IS_DIRECTORY "${CMAKE_CURRENT_BINARY_DIR}/x")
  DownloadPackage("0" "${BASE_URL}/unknown-test.zip" "${CMAKE_CURRENT_BINARY_DIR}/maybe-1")
endif()
#[[ DownloadPackage("0" "u" "bracket-commented") ]]
"""
LIBRARY = """
if (STATIC_BUILD OR NOT USE_SYSTEM_TIFF)
  set(TIFF_DIR ${CMAKE_BINARY_DIR}/tiff-4.2.0)
  DownloadPackage("0" "https://example.invalid/tiff.tar.gz" "${TIFF_DIR}")
endif()
"""


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def plugin_tree(root: Path) -> Path:
    tree = root / "OrthancPlugin-1.0"
    write(tree / "CMakeLists.txt", 'set(STATIC_BUILD OFF CACHE BOOL "Static")\n'
                                   'set(BUILD_POLYFILL OFF CACHE BOOL "From npm")\n'
                                   "include(${CMAKE_SOURCE_DIR}/Resources/CMake/JavaScriptLibraries.cmake)\n")
    write(tree / "Resources" / "CMake" / "JavaScriptLibraries.cmake", JS_LIBRARIES)
    write(tree / "Resources" / "CMake" / "TiffConfiguration.cmake", LIBRARY)
    write(tree / "Resources" / "Orthanc" / "CMake" / "Other.cmake",
          'DownloadPackage("0" "u" "${CMAKE_CURRENT_BINARY_DIR}/not-ours")\n')
    return tree


def sri(data: bytes) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()


def tarball(files: dict[str, bytes], top: str = "package") -> bytes:
    """An npm-style tarball: every file under one top folder, fixed times."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for name, data in sorted(files.items()):
            info = tarfile.TarInfo(f"{top}/{name}" if top else name)
            info.size, info.mtime, info.mode = len(data), 1_500_000_000, 0o644
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


@pytest.fixture
def registry(tmp_path, monkeypatch):
    """Publish tarballs under a folder laid out like the npm registry; return a publisher."""
    root = tmp_path / "registry"
    monkeypatch.setattr(web_assets, "REGISTRY", root.as_uri())

    def publish(package: str, version: str, data: bytes) -> str:
        path = root / package / "-" / f"{package.rsplit('/', 1)[-1]}-{version}.tgz"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return sri(data)
    return publish


# --- needed() ---------------------------------------------------------------------------


def test_needed_finds_the_names_on_the_branches_taken(tmp_path):
    names = web_assets.needed(plugin_tree(tmp_path))
    # Not: the npm-install branch, the static build's library, Orthanc's own files, comments.
    assert names == ["lib-1.0", "maybe-1", "ol-package", "polyfill.min.js", "widgets-2.0"]


def test_needed_follows_the_options_given(tmp_path):
    names = web_assets.needed(plugin_tree(tmp_path), {"BUILD_POLYFILL": True, "STATIC_BUILD": True})
    assert "npm-only" in names and "polyfill.min.js" not in names
    assert not any(name.startswith("tiff") for name in names)


def test_needed_is_empty_for_trees_without_web_assets(tmp_path):
    write(tmp_path / "db" / "Resources" / "CMake" / "TiffConfiguration.cmake", LIBRARY)
    assert web_assets.needed(tmp_path / "db") == []
    assert web_assets.needed(tmp_path / "empty") == []


def test_needed_reads_the_viewer_plugin_folder(tmp_path):
    write(tmp_path / "wsi" / "ViewerPlugin" / "CMakeLists.txt",
          'SET(USE_SYSTEM_OPENLAYERS OFF CACHE BOOL "System OpenLayers")\n'
          "if (STATIC_BUILD OR NOT USE_SYSTEM_OPENLAYERS)\n"
          '  DownloadPackage("0" "u" "v3.19.0-dist")\n'
          "elseif (FOO)\n"
          '  DownloadPackage("0" "u" "never")\n'
          "else()\n"
          '  DownloadPackage("0" "u" "never-either")\n'
          "endif()\n")
    assert web_assets.needed(tmp_path / "wsi") == ["v3.19.0-dist"]


# --- load() -----------------------------------------------------------------------------


def test_the_shipped_catalogue_is_valid():
    catalogue = web_assets.load()
    assert catalogue.path == web_assets.CATALOGUE
    assert {"bootstrap-5.3.3", "jspanel", "polyfill.min.js", "popper.min.js"} <= set(catalogue)
    assert [s.into for s in catalogue["jspanel"].sources] == ["jspanel", "vendor"]
    assert catalogue["popper.min.js"].sources[0].url.endswith("/@popperjs/core/-/core-2.11.8.tgz")


@pytest.mark.parametrize("body, message", [
    ('npm = "a@1"\nintegrity = "sha512-x"', 'assets."a-1".npm: malformed \'a@1\''),
    (f'npm = "a@1.0.0"\nintegrity = "{sri(b"")}"\nfile = "x"', 'assets."a-1".file: unknown key'),
    (f'npm = "a@1.0.0"\nintegrity = "{sri(b"")}"\npath = "../x"', 'assets."a-1".path: \'../x\' is not'),
    (f'npm = "a@1.0.0"\nintegrity = "{sri(b"")}"\ninto = "other"', "no source places 'a-1' itself"),
    ('npm = "a@1.0.0"\nintegrity = "md5-x"', 'assets."a-1".integrity: malformed'),
    ('sources = []', 'assets."a-1".sources: expected a non-empty array'),
])
def test_a_bad_catalogue_is_one_line_naming_file_and_key(tmp_path, body, message):
    path = write(tmp_path / "web-assets.toml", f'[assets."a-1"]\n{body}\n')
    with pytest.raises(AssetError) as info:
        web_assets.load(path)
    assert str(info.value).startswith(str(path)) and message in str(info.value)
    assert "\n" not in str(info.value)


# --- fetch() ----------------------------------------------------------------------------


def test_fetch_verifies_then_caches(tmp_path, registry):
    data = tarball({"index.js": b"1"})
    source = web_assets.Source("@scope/lib", "1.0.0", registry("@scope/lib", "1.0.0", data), "lib")
    cached = web_assets.fetch(source, tmp_path / "cache")
    assert cached.read_bytes() == data
    (tmp_path / "registry" / "@scope" / "lib" / "-" / "lib-1.0.0.tgz").unlink()
    assert web_assets.fetch(source, tmp_path / "cache") == cached  # no second download


def test_integrity_mismatch_fails_naming_both_digests(tmp_path, registry):
    registry("lib", "1.0.0", tarball({"index.js": b"tampered"}))
    pinned = sri(b"what was published")
    with pytest.raises(AssetError) as info:
        web_assets.fetch(web_assets.Source("lib", "1.0.0", pinned, "lib"), tmp_path / "cache")
    message = str(info.value)
    assert "integrity mismatch" in message and pinned in message
    assert sri(tarball({"index.js": b"tampered"})) in message
    assert list((tmp_path / "cache").iterdir()) == []  # nothing kept


def test_unreachable_tarball_is_one_line(tmp_path, registry):
    with pytest.raises(AssetError, match=r"lib-9\.9\.9\.tgz not reachable"):
        web_assets.fetch(web_assets.Source("lib", "9.9.9", sri(b""), "lib"), tmp_path / "cache")


# --- layout() ---------------------------------------------------------------------------


def catalogue_for(tmp_path: Path, registry) -> web_assets.Catalogue:
    lib = registry("lib", "1.0.0", tarball({"dist/lib.js": b"lib", "README.md": b"r"}))
    ol = registry("ol", "2.0.0", tarball({"ol.css": b"css", "dist/ol.js": b"ol"}, top="odd-top-folder"))
    poly = registry("babel-polyfill", "6.26.0", tarball({"dist/polyfill.min.js": b"poly"}))
    widgets = registry("widgets", "2.0.0", tarball({"src/w.js": b"w", "vendor/touch.js": b"t", "x": b""}))
    text = f"""
[assets."lib-1.0"]
npm = "lib@1.0.0"
integrity = "{lib}"
[assets."ol-package"]
npm = "ol@2.0.0"
integrity = "{ol}"
[assets."polyfill.min.js"]
npm = "babel-polyfill@6.26.0"
integrity = "{poly}"
path = "dist/polyfill.min.js"
[assets."widgets-2.0"]
sources = [
  {{ npm = "widgets@2.0.0", integrity = "{widgets}", files = {{ "js/w.js" = "src/w.js" }} }},
  {{ npm = "widgets@2.0.0", integrity = "{widgets}", into = "vendor", path = "vendor" }},
]
[assets."maybe-1"]
npm = "lib@1.0.0"
integrity = "{lib}"
path = "dist"
"""
    return web_assets.load(write(tmp_path / "web-assets.toml", text))


def test_layout_places_every_item(tmp_path, registry):
    tree, build = plugin_tree(tmp_path), tmp_path / "build"
    placed = web_assets.layout(tree, catalogue_for(tmp_path, registry), tmp_path / "cache", build)
    assert placed == ["lib-1.0", "maybe-1", "ol-package", "polyfill.min.js", "widgets-2.0"]
    assert (build / "lib-1.0" / "dist" / "lib.js").read_bytes() == b"lib"
    assert (build / "ol-package" / "dist" / "ol.js").read_bytes() == b"ol"  # top folder dropped
    assert (build / "polyfill.min.js").read_bytes() == b"poly"  # a file item
    assert (build / "maybe-1" / "lib.js").is_file()
    assert sorted(p.name for p in (build / "widgets-2.0").rglob("*")) == ["js", "w.js"]
    assert (build / "vendor" / "touch.js").read_bytes() == b"t"  # a sibling of the item
    assert sorted(p.name for p in build.iterdir()) == sorted(placed + ["vendor"])  # no temporary left


def test_layout_replaces_what_is_there(tmp_path, registry):
    tree, build = plugin_tree(tmp_path), tmp_path / "build"
    write(build / "lib-1.0" / "stale.js", "old")
    web_assets.layout(tree, catalogue_for(tmp_path, registry), tmp_path / "cache", build)
    assert not (build / "lib-1.0" / "stale.js").exists()


def test_unknown_needed_names_fail_in_one_line(tmp_path, registry):
    path = write(tmp_path / "web-assets.toml", "")
    with pytest.raises(AssetError) as info:
        web_assets.layout(plugin_tree(tmp_path), web_assets.load(path), tmp_path / "cache", tmp_path / "build")
    assert str(info.value) == (f"{path}: no entry for lib-1.0, maybe-1, ol-package, polyfill.min.js, "
                               "widgets-2.0 (needed by OrthancPlugin-1.0)")


def test_a_tarball_escaping_its_folder_is_refused_and_nothing_is_left(tmp_path, registry):
    evil = registry("evil", "1.0.0", tarball({"../../escaped.js": b"x", "ok.js": b"y"}))
    path = write(tmp_path / "web-assets.toml", f'[assets."lib-1.0"]\nnpm = "evil@1.0.0"\nintegrity = "{evil}"\n')
    tree = write(tmp_path / "t" / "CMakeLists.txt", 'DownloadPackage("0" "u" "lib-1.0")\n').parent
    build = tmp_path / "build"
    with pytest.raises(AssetError, match="not a readable npm tarball"):
        web_assets.layout(tree, web_assets.load(path), tmp_path / "cache", build)
    assert list(build.iterdir()) == [] and not (tmp_path / "escaped.js").exists()
