"""Each plugin of the complete `orthanc-plugins` image does what its users use it for, with real data
made by the test and real clients: DCMTK's `storescu` into PostgreSQL and MariaDB, DICOMweb's
STOW-RS, QIDO-RS and WADO-RS, a JPEG 2000 file made by GDCM's `gdcmconv`, the Web Viewer and the WSI
viewer in headless Chromium, a pyramidal TIFF through the WSI tools and back; and each plugin switched
off by its `<NAME>_PLUGIN_ENABLED=false` is really off.

Against the default set's amd64 image (built by the session when it is not there yet), or the image
that ORTHANC_TEST_PLATFORM / ORTHANC_TEST_SET name (see images.py), as the emulated smoke sessions
run it. A failure names the plugin and the step; the browser checks print where their screenshots are.
"""

from __future__ import annotations

import base64
import contextlib
import json
import re
import secrets
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest
from pydicom.uid import generate_uid

from tools.running import smoke

from . import databases, images
from . import plugin_data as data

IMAGE = images.ref("orthanc-plugins")
PINS = images.CFG.sets[images.SET].pins
USER = "alice"
DB_HOST = "dbhost"  # the Docker host, where the test's database servers listen
#: The DICOM port and AET of the image (Orthanc's defaults).
DICOM_PORT, AET = 4242, "ORTHANC"


@pytest.fixture(scope="module")
def image() -> str:
    """The set's complete orthanc-plugins image for the platform: the one there, or built."""
    if images.docker("image", "inspect", IMAGE, check=False).returncode == 0:
        return IMAGE
    return images.built("orthanc-plugins")


# --- A running Orthanc -----------------------------------------------------------------------------

@dataclass
class Orthanc:
    container: smoke.Container
    client: smoke.Client
    dicom_port: int

    @property
    def base(self) -> str:
        return self.client.base

    def logs(self) -> str:
        return images.logs(self.container)[-4000:]

    def restart(self) -> None:
        images.docker("restart", self.container.id)
        self.container.port = published(self.container.id, 8042)
        self.dicom_port = published(self.container.id, DICOM_PORT)
        self.client.base = f"http://127.0.0.1:{self.container.port}"
        smoke.wait_ready(self.client, self.container, images.READY_SECONDS)


def published(cid: str, port: int) -> int:
    out = images.docker("port", cid, f"{port}/tcp").stdout
    return int(out.strip().splitlines()[0].rsplit(":", 1)[1])


@contextlib.contextmanager
def orthanc(image: str, plugin: str, env: dict[str, str] | None = None, *, browser: bool = False,
            hosts: dict[str, str] | None = None):
    """The image started with ``env`` for the check of ``plugin``, its HTTP and DICOM ports published,
    once Orthanc answers. A ``browser`` one lets clients in without credentials, as headless Chromium
    has none."""
    env = dict(env or {})
    if browser:
        env["ORTHANC_ALLOW_UNAUTHENTICATED"] = "true"
        user = password = ""
    else:
        user, password = USER, "pw" + secrets.token_hex(12)
        env["ORTHANC__REGISTERED_USERS"] = json.dumps({user: password})
    options = ["-p", f"127.0.0.1::{DICOM_PORT}"]
    for name, address in (hosts or {}).items():
        options += ["--add-host", f"{name}:{address}"]
    names = " ".join(f"{key}=..." if "PASSWORD" in key or "USERS" in key else f"{key}={value}"
                     for key, value in env.items())
    try:
        container = images.start(image, env, options)
    except AssertionError as exc:
        raise AssertionError(f"{plugin}: starting Orthanc with {names}: {exc}") from None
    try:
        client = smoke.Client(f"http://127.0.0.1:{container.port}", user, password)
        server = Orthanc(container, client, published(container.id, DICOM_PORT))
        try:
            smoke.wait_ready(client, container, images.READY_SECONDS)
        except smoke.SmokeError as exc:
            raise AssertionError(f"{plugin}: starting Orthanc with {names}: {exc}") from None
        yield server
    finally:
        container.stop()


@contextlib.contextmanager
def step(plugin: str, what: str, server: Orthanc | None = None):
    """A step of a plugin's check: a failure says which, with Orthanc's log."""
    try:
        yield
    except Exception as exc:  # noqa: BLE001 - any failure of the step, named
        message = str(exc).removeprefix(f"{plugin}: ")
        log = f"\n--- Orthanc's log (end):\n{server.logs()}" if server else ""
        raise AssertionError(f"{plugin}: {what}: {message}{log}") from exc


def get(server: Orthanc, path: str, accept: str | None = None) -> bytes:
    """GET that must answer 200 (within a step, which names the plugin)."""
    status, body = server.client.request("GET", path, accept=accept)
    assert status == 200, f"GET {path}: HTTP {status}: {body[:300]!r}"
    return body


def fetch(server: Orthanc, path: str, accept: str) -> tuple[int, str, bytes]:
    """GET with its answer's Content-Type (multipart answers need their boundary)."""
    req = urllib.request.Request(server.base + path, headers={"Accept": accept})
    if server.client.user:
        token = base64.b64encode(f"{server.client.user}:{server.client.password}".encode()).decode()
        req.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(req, timeout=60) as response:
            return response.status, response.headers.get("Content-Type", ""), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("Content-Type", ""), exc.read()


def plugin_ids(server: Orthanc) -> set[str]:
    return images.plugins(server.client)


def screenshot_path(request, tmp_path: Path, name: str) -> Path:
    """Where a browser check's screenshot goes: beside the test's log, in its own pytest folder."""
    return tmp_path / f"{request.node.name.replace('[', '-').rstrip(']')}-{name}.png"


# --- 1. PostgreSQL and MySQL -----------------------------------------------------------------------

DATABASES = {
    # plugin component: (server, configuration section, /plugins ids)
    "postgresql": (databases.postgresql, "POSTGRESQL", ("postgresql-index", "postgresql-storage")),
    "mysql": (databases.mariadb, "MYSQL", ("mysql-index", "mysql-storage")),
}
INSTANCES = 20


def count(server: databases.Server, sql: str) -> int:
    return int(server.query(sql))


@pytest.mark.parametrize("component", list(DATABASES))
def test_database_plugins_keep_what_storescu_sent_across_a_restart(component, image, tmp_path):
    start_server, section, ids = DATABASES[component]
    password = "pw" + secrets.token_hex(8)  # never read as a number by the entrypoint
    with start_server(password) as db:
        # Configured the way users do, one ORTHANC__ variable per setting.
        env = {f"ORTHANC__{section}__{key}": value for key, value in {
            "ENABLE_INDEX": "true", "ENABLE_STORAGE": "true", "HOST": DB_HOST, "PORT": str(db.port),
            "DATABASE": databases.DATABASE, "USERNAME": databases.USER, "PASSWORD": password,
            "LOCK": "false"}.items()}
        with orthanc(image, component, env, hosts={DB_HOST: "host-gateway"}) as server:
            with step(component, "the plugins are loaded and report their version", server):
                for plugin in ids:
                    info = server.client.json("GET", f"/plugins/{plugin}")
                    assert info.get("Version") == PINS[component].version, info
            # 20 instances of one study, in two series, sent over DICOM in one association.
            study_uid, patient_id = generate_uid(), "PF-" + secrets.token_hex(4)
            series = [generate_uid(), generate_uid()]
            sent = {}
            files = []
            for number in range(INSTANCES):
                pixels = data.gradient(32, 32) ^ number
                file = data.dicom([pixels], patient_id=patient_id, study_uid=study_uid,
                                  series_uid=series[number % 2], instance_number=number + 1)
                sent[str(data.read(file).SOPInstanceUID)] = pixels.tobytes()
                files.append(tmp_path / f"{number:02d}.dcm")
                files[-1].write_bytes(file)
            with step(component, f"storescu to the DICOM port (AET {AET})", server):
                data.storescu(component, files, server.dicom_port, called=AET)
            with step(component, "the index lists what was sent", server):
                assert server.client.json("GET", "/statistics")["CountInstances"] == INSTANCES
                assert count(db, "SELECT COUNT(*) FROM Resources WHERE resourceType = 3") == INSTANCES
                assert count(db, "SELECT COUNT(*) FROM StorageArea") >= INSTANCES
            with step(component, "docker restart", server):
                server.restart()
            with step(component, "after the restart, every instance is there and reads back", server):
                ids_after = server.client.json("GET", "/instances")
                assert len(ids_after) == INSTANCES, ids_after
                for instance in ids_after:
                    status, body = server.client.request("GET", f"/instances/{instance}/file")
                    assert status == 200, f"GET /instances/{instance}/file: HTTP {status}"
                    ds = data.read(body)
                    assert sent[str(ds.SOPInstanceUID)] == ds.PixelData, f"{ds.SOPInstanceUID}: other pixels"
                studies = server.client.json("GET", "/studies")
                assert len(studies) == 1, studies
            with step(component, "deleting the study removes its rows", server):
                status, body = server.client.request("DELETE", f"/studies/{studies[0]}")
                assert status == 200, f"DELETE /studies/{studies[0]}: HTTP {status} {body[:200]!r}"
                deadline = time.monotonic() + 30
                while time.monotonic() < deadline and (
                        count(db, "SELECT COUNT(*) FROM Resources") or count(db, "SELECT COUNT(*) FROM StorageArea")):
                    time.sleep(1)
                assert count(db, "SELECT COUNT(*) FROM Resources") == 0
                assert count(db, "SELECT COUNT(*) FROM StorageArea") == 0
                assert server.client.json("GET", "/instances") == []


# --- 2. DICOMweb -----------------------------------------------------------------------------------

def three_frames():
    """3 frames of 64x48 RGB: red, green, blue, each with a white square in a corner of its own."""
    import numpy as np

    frames = np.zeros((3, 48, 64, 3), dtype=np.uint8)
    for index, (y, x) in enumerate(((0, 0), (0, 48), (32, 0))):
        frames[index, :, :, index] = 200
        frames[index, y:y + 16, x:x + 16] = 255
    return frames


def test_dicomweb_stores_finds_and_returns_a_multiframe_instance(image, request, tmp_path):
    frames = three_frames()
    patient_id = "PF-" + secrets.token_hex(4)
    file = data.dicom(frames, patient_id=patient_id, modality="XC", description="dicomweb check")
    ds = data.read(file)
    study, series, instance = str(ds.StudyInstanceUID), str(ds.SeriesInstanceUID), str(ds.SOPInstanceUID)
    env = {"ORTHANC__DICOM_WEB__SERVERS": json.dumps({"loopback": ["http://127.0.0.1:8042/dicom-web/"]})}
    with orthanc(image, "dicom-web", env, browser=True) as server:
        with step("dicom-web", "STOW-RS of a 3-frame instance", server):
            body, content_type = data.multipart([file])
            status, answer = server.client.request("POST", "/dicom-web/studies", body,
                                                   accept="application/dicom+json", content_type=content_type)
            assert status == 200, f"HTTP {status}: {answer[:300]!r}"
            stored = json.loads(answer)
            # Failed SOP Sequence: absent, or (DICOMweb before 1.18) present and empty.
            failed = stored.get("00081198", {}).get("Value")
            assert not failed, f"failed SOP sequence: {failed}"
            assert len(stored["00081199"]["Value"]) == 1, stored
        with step("dicom-web", "QIDO-RS at study, series and instance level, with filters", server):
            found = json.loads(get(server, f"/dicom-web/studies?PatientID={patient_id}"))
            assert [s["0020000D"]["Value"][0] for s in found] == [study], found
            assert json.loads(get(server, "/dicom-web/studies?PatientID=NOBODY") or b"[]") == []
            found = json.loads(get(server, f"/dicom-web/studies/{study}/series?Modality=XC"))
            assert [s["0020000E"]["Value"][0] for s in found] == [series], found
            found = json.loads(get(server, f"/dicom-web/studies/{study}/series/{series}/instances"
                                                        f"?SOPInstanceUID={instance}&includefield=00280008"))
            assert [s["00080018"]["Value"][0] for s in found] == [instance], found
            assert int(found[0]["00280008"]["Value"][0]) == 3, found[0]
            found = json.loads(get(server, f"/dicom-web/instances?PatientID={patient_id}"))
            assert [s["00080018"]["Value"][0] for s in found] == [instance], found
        base = f"/dicom-web/studies/{study}/series/{series}/instances/{instance}"
        with step("dicom-web", "WADO-RS of the instance", server):
            accept = 'multipart/related; type="application/dicom"'
            status, content_type, answer = fetch(server, base, accept)
            assert status == 200, f"HTTP {status}: {answer[:300]!r}"
            [(kind, part)] = data.parts(answer, content_type)
            assert kind == "application/dicom", kind
            back = data.read(part)
            assert str(back.SOPInstanceUID) == instance and back.PixelData == ds.PixelData
        with step("dicom-web", "WADO-RS of the metadata", server):
            [meta] = json.loads(get(server, f"{base}/metadata", accept="application/dicom+json"))
            assert int(meta["00280008"]["Value"][0]) == 3
            assert (meta["00280010"]["Value"][0], meta["00280011"]["Value"][0]) == (48, 64)
            assert meta["00100020"]["Value"][0] == patient_id
        for number in (1, 2, 3):
            with step("dicom-web", f"WADO-RS of frame {number}, rendered as PNG", server):
                rendered = data.image(get(server, f"{base}/frames/{number}/rendered",
                                          accept="image/png"))
                assert rendered.size == (64, 48), rendered.size
                from PIL import Image

                reference = Image.fromarray(frames[number - 1], "RGB")
                difference = data.mean_difference(rendered.convert("RGB"), reference)
                assert difference < 8, f"frame {number} differs from what was stored by {difference:.1f} levels"
        with step("dicom-web", "its web application in headless Chromium", server):
            url = f"{server.base}/dicom-web/app/client/index.html"
            dom = data.chromium("dicom-web", url)
            data.chromium("dicom-web", url, screenshot=screenshot_path(request, tmp_path, "dicomweb-app"))
            assert "DICOMweb client" in dom, dom[:500]
            # Vue ran: the configured server is listed, and no template is left unrendered.
            # (DICOMweb 1.24 writes the option itself, 1.17 through Bootstrap-Vue, with a value.)
            assert re.search(r"<option[^>]*>loopback</option>", dom), dom[-3000:]
            assert "{{" not in dom, dom[-3000:]


# --- 3. GDCM ---------------------------------------------------------------------------------------

def j2k_preview(server: Orthanc, plugin: str, j2k: bytes) -> tuple[int, bytes]:
    with step(plugin, "uploading the JPEG 2000 instance", server):
        stored = images.upload(server.client, j2k)
    return server.client.request("GET", f"/instances/{stored['ID']}/preview", accept="image/png")


def test_gdcm_decodes_jpeg2000_only_when_on(image, tmp_path):
    from PIL import Image

    pixels = data.quadrants(64, 64)
    j2k = data.jpeg2000(data.dicom([pixels], window=(128, 256)), tmp_path)
    with orthanc(image, "gdcm") as server:
        assert "gdcm" in plugin_ids(server), "gdcm: not loaded by default"
        status, body = j2k_preview(server, "gdcm", j2k)
        with step("gdcm", "preview of the JPEG 2000 instance, plugin on", server):
            assert status == 200, f"HTTP {status}: {body[:300]!r}"
            preview = data.image(body)
            assert preview.size == (64, 64), preview.size
            # The preview stretches the grey levels to the full range: so is the reference.
            difference = data.mean_difference(preview.convert("L"), Image.fromarray(data.stretched(pixels), "L"))
            assert difference < 8, f"the preview differs from the pixels by {difference:.1f} levels"
    with orthanc(image, "gdcm", {"GDCM_PLUGIN_ENABLED": "false"}) as server:
        assert "gdcm" not in plugin_ids(server), "gdcm: loaded although GDCM_PLUGIN_ENABLED=false"
        status, body = j2k_preview(server, "gdcm", j2k)
        with step("gdcm", "preview of the JPEG 2000 instance, plugin off", server):
            assert status != 200, "Orthanc decoded JPEG 2000 without the GDCM plugin: the check proves nothing"


# --- 4. Web Viewer ---------------------------------------------------------------------------------

def image_box(gray, threshold: int = 16) -> tuple[int, int, int, int]:
    """The box (left, top, right, bottom) of the drawn image in a screenshot on a black viewport: the
    longest runs of columns and rows more than half of which are lit (the viewer's captions are small)."""
    import numpy as np

    lit = np.asarray(gray) > threshold

    def run(profile) -> tuple[int, int]:
        best, start = (0, 0), None
        for index, on in enumerate([*profile, False]):
            if on and start is None:
                start = index
            elif not on and start is not None:
                best = max(best, (start, index), key=lambda r: r[1] - r[0])
                start = None
        return best

    left, right = run(lit.mean(axis=0) > 0.5)
    top, bottom = run(lit[:, left:right].mean(axis=1) > 0.5) if right > left else (0, 0)
    return left, top, right, bottom


def test_web_viewer_draws_the_series_in_chromium(image, request, tmp_path):
    from PIL import Image

    pixels = data.quadrants(128, 128)
    with orthanc(image, "web-viewer", browser=True) as server:
        with step("web-viewer", "uploading a series", server):
            stored = images.upload(server.client, data.dicom([pixels], window=(128, 256)))
        shot = screenshot_path(request, tmp_path, "web-viewer")
        with step("web-viewer", "its viewer page in headless Chromium", server):
            data.chromium("web-viewer", f"{server.base}/web-viewer/app/viewer.html?series={stored['ParentSeries']}",
                          screenshot=shot, size=(800, 600))
    screen = Image.open(shot).convert("L")
    left, top, right, bottom = image_box(screen)
    with step("web-viewer", f"the screenshot {shot} shows the image"):
        assert right - left >= 100 and bottom - top >= 100, \
            f"no image drawn in the viewport (lit box {left},{top},{right},{bottom})"
        drawn = screen.crop((left, top, right, bottom))
        difference = data.mean_difference(drawn.resize((32, 32)), Image.fromarray(pixels, "L").resize((32, 32)))
        assert difference < 20, f"the drawn image differs from its pixels by {difference:.1f} levels"


# --- 5. WSI ----------------------------------------------------------------------------------------

def wsi_tool(image: str, server: Orthanc, folder: Path, tool: str, *args: str) -> str:
    """Run one of the image's WSI tools in a second container that shares the running Orthanc's
    network, so that it reaches it at localhost; ``folder`` is at /data."""
    cmd = ["docker", "run", "--rm", "--network", f"container:{server.container.id}", "-v", f"{folder}:/data",
           "--entrypoint", tool, image, *args, "--orthanc=http://127.0.0.1:8042/"]
    if server.client.user:
        cmd += [f"--username={server.client.user}", f"--password={server.client.password}"]
    return data.run("wsi", f"{tool} {' '.join(args)}", cmd, timeout=600)


def colour_share(img, colour: tuple[int, int, int], tolerance: int = 50) -> float:
    import numpy as np

    pixels = np.asarray(img.convert("RGB"), dtype=np.int16)
    return float((np.abs(pixels - np.array(colour)).max(axis=2) < tolerance).mean())


QUADRANT_COLOURS = ((220, 30, 30), (30, 200, 30), (30, 30, 220), (240, 240, 240))


def test_wsi_dicomizes_a_pyramidal_tiff_serves_its_tiles_and_converts_it_back(image, request, tmp_path):
    folder = tmp_path / "wsi"
    folder.mkdir()
    folder.chmod(0o777)  # the tools run as the image's user
    picture = data.pyramidal_tiff(folder / "slide.tif")
    (folder / "slide.tif").chmod(0o644)
    with orthanc(image, "wsi", browser=True) as server:
        with step("wsi", "OrthancWSIDicomizer into the running Orthanc", server):
            wsi_tool(image, server, folder, "OrthancWSIDicomizer", "/data/slide.tif", "--threads=1")
            series = [s for s in server.client.json("GET", "/series?expand")
                      if s["MainDicomTags"].get("Modality") == "SM"]
            assert len(series) == 1, f"{len(series)} whole-slide series in Orthanc"
            series_id = series[0]["ID"]
        with step("wsi", f"the pyramid of series {series_id}", server):
            pyramid = server.client.json("GET", f"/wsi/pyramids/{series_id}")
            assert (pyramid["TotalWidth"], pyramid["TotalHeight"]) == picture.size, pyramid
            assert len(pyramid["Sizes"]) >= 3, pyramid
        for level, (columns, rows) in enumerate(pyramid["TilesCount"]):
            with step("wsi", f"the tiles of level {level}", server):
                width, height = pyramid["TilesSizes"][level]
                for x, y in {(0, 0), (columns - 1, rows - 1)}:
                    tile = data.image(get(server, f"/wsi/tiles/{series_id}/{level}/{x}/{y}"))
                    assert tile.size == (width, height), tile.size
        smallest = len(pyramid["Sizes"]) - 1
        with step("wsi", f"the tile of level {smallest} looks like the slide", server):
            tile = data.image(get(server, f"/wsi/tiles/{series_id}/{smallest}/0/0")).convert("RGB")
            w, h = pyramid["Sizes"][smallest]
            box = (0, 0, min(w, tile.width), min(h, tile.height))
            difference = data.mean_difference(tile.crop(box), picture.resize((w, h)).crop(box))
            assert difference < 20, f"the tile differs from the slide by {difference:.1f} levels"
        shot = screenshot_path(request, tmp_path, "wsi-viewer")
        with step("wsi", "its viewer page in headless Chromium", server):
            data.chromium("wsi", f"{server.base}/wsi/app/viewer.html?series={series_id}", screenshot=shot)
            from PIL import Image

            screen = Image.open(shot)
            for colour in QUADRANT_COLOURS:
                share = colour_share(screen, colour)
                assert share > 0.02, f"the screenshot {shot} has {share:.1%} of colour {colour}"
        with step("wsi", "OrthancWSIDicomToTiff back to a TIFF", server):
            wsi_tool(image, server, folder, "OrthancWSIDicomToTiff", series_id, "/data/back.tif")
    with step("wsi", "the TIFF made by OrthancWSIDicomToTiff opens"):
        levels = data.tiff_levels(folder / "back.tif")
        assert levels and levels[0] == picture.size, levels
        back = data.tiff_first_level(folder / "back.tif", tmp_path)
        difference = data.mean_difference(back.crop((0, 0, *picture.size)), picture)
        assert difference < 20, f"the TIFF differs from the slide by {difference:.1f} levels"


# --- 6. Switches -----------------------------------------------------------------------------------

def probe_route(path: str):
    def probe(server: Orthanc, tmp_path: Path) -> bool:
        status, _ = server.client.request("GET", path)
        return status == 200
    return probe


def probe_jpeg2000(server: Orthanc, tmp_path: Path) -> bool:
    j2k = data.jpeg2000(data.dicom([data.gradient(32, 32)]), tmp_path)
    status, _ = j2k_preview(server, "gdcm", j2k)
    return status == 200


def probe_database(server: Orthanc, tmp_path: Path) -> bool:
    """Configured for a database server that is not there: had the plugin loaded, Orthanc would not
    have started; it stores into its own index instead."""
    images.upload(server.client)
    return False


SWITCHES = {
    # switch: (/plugins ids, configuration it comes with, what works only when the plugin is on)
    "DICOM_WEB": ({"dicom-web"}, {}, probe_route("/dicom-web/studies")),
    "GDCM": ({"gdcm"}, {}, probe_jpeg2000),
    "ORTHANC_WEB_VIEWER": ({"web-viewer"}, {}, probe_route("/web-viewer/app/viewer.html")),
    "WSI": ({"wsi"}, {}, probe_route("/wsi/app/viewer.html")),
    "POSTGRESQL": ({"postgresql-index", "postgresql-storage"},
                   {"ORTHANC__POSTGRESQL__HOST": "nowhere.invalid", "ORTHANC__POSTGRESQL__ENABLE_INDEX": "true",
                    "ORTHANC__POSTGRESQL__ENABLE_STORAGE": "true"}, probe_database),
    "MYSQL": ({"mysql-index", "mysql-storage"},
              {"ORTHANC__MYSQL__HOST": "nowhere.invalid", "ORTHANC__MYSQL__ENABLE_INDEX": "true",
               "ORTHANC__MYSQL__ENABLE_STORAGE": "true"}, probe_database),
}


@pytest.mark.parametrize("switch", list(SWITCHES))
def test_a_plugin_switched_off_is_off(switch, image, tmp_path):
    ids, env, works = SWITCHES[switch]
    plugin = sorted(ids)[0]
    with orthanc(image, plugin, {**env, f"{switch}_PLUGIN_ENABLED": "false"}) as server:
        loaded = plugin_ids(server)
        with step(plugin, f"{switch}_PLUGIN_ENABLED=false", server):
            assert not ids & loaded, f"still loaded: {sorted(ids & loaded)}"
            others = images.defaults("orthanc-plugins") - ids
            assert others <= loaded, f"other plugins went with it: {sorted(others - loaded)}"
            assert not works(server, tmp_path), "what the plugin does still works"
        text = images.logs(server.container)
    assert f"({switch}_PLUGIN_ENABLED=false)" in text, f"{plugin}: the log does not say it was switched off:\n{text}"


def test_the_switch_probes_see_the_plugins_on(image, tmp_path):
    """The probes above are not blind: with no switch set, each one finds its plugin working."""
    with orthanc(image, "every plugin") as server:
        for switch, (ids, env, works) in SWITCHES.items():
            if env:
                continue  # the database plugins on: test_database_plugins_keep_what_storescu_sent...
            with step(sorted(ids)[0], "working with no switch set", server):
                assert ids <= plugin_ids(server)
                assert works(server, tmp_path)


