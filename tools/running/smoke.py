"""Smoke tests of a built image: start it, and check it over Orthanc's REST API."""

from __future__ import annotations

import base64
import contextlib
import io
import json
import secrets
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field

from .. import docker
from ..errors import FatalError

# Plugin IDs as /plugins reports them, per image.
CORE_PLUGINS = {"serve-folders", "worklists"}
#: What /plugins lists for each plugin component.
PLUGIN_NAMES = {
    "postgresql": {"postgresql-index", "postgresql-storage"},
    "mysql": {"mysql-index", "mysql-storage"},
    "dicomweb": {"dicom-web"},
    "gdcm": {"gdcm"},
    "webviewer": {"web-viewer"},
    "wsi": {"wsi"},
}
#: Plugin components that load only when their configuration section is there (or switched on).
CONFIGURED_ONLY = {"postgresql", "mysql"}
WITHOUT_LABEL = "org.orthanc-images.without"
#: Beyond /plugins/<id>: a route each plugin serves, and what its answer must contain.
PLUGIN_ROUTES = {
    "dicom-web": ("/dicom-web/studies", b"["),  # QIDO-RS: a JSON array
    "web-viewer": ("/web-viewer/app/viewer.html", b"<html"),
    "wsi": ("/wsi/app/viewer.html", b"<html"),
}


def expected_plugins(image: str, without: list[str]) -> set[str]:
    """The plugins an image loads with no switch set: the samples that do not change the server's
    behaviour, and for orthanc-plugins every plugin not left out, but the database plugins, which
    load only when configured."""
    if image == "orthanc":
        return set(CORE_PLUGINS)
    return CORE_PLUGINS.union(*[names for c, names in PLUGIN_NAMES.items()
                                if c not in without and c not in CONFIGURED_ONLY])


def left_out(ref: str) -> list[str]:
    """The plugins an image was built without (its label)."""
    return [x for x in docker.label(ref, WITHOUT_LABEL).split(",") if x]


class SmokeError(FatalError):
    pass


def make_dicom(patient: str = "SMOKE^TEST", study_uid: str | None = None) -> tuple[bytes, dict]:
    """A small but real DICOM file (Secondary Capture, 16x16 MONOCHROME2), made with pydicom."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = SecondaryCaptureImageStorage
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = study_uid or generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.PatientName = patient
    ds.PatientID = "SMOKE-" + secrets.token_hex(4)
    ds.StudyDate = "20260101"
    ds.Modality = "OT"
    ds.StudyDescription = "smoke test"
    ds.Rows = ds.Columns = 16
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = ds.BitsStored = 8
    ds.HighBit = 7
    ds.PixelRepresentation = 0
    ds.PixelData = bytes(range(256))
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue(), {"StudyInstanceUID": ds.StudyInstanceUID, "PatientID": ds.PatientID,
                            "SOPInstanceUID": ds.SOPInstanceUID}


@dataclass
class Client:
    base: str
    user: str
    password: str
    headers: dict = field(default_factory=dict)

    def request(self, method: str, path: str, body: bytes | None = None, accept: str | None = None,
                content_type: str | None = None, timeout: float = 60) -> tuple[int, bytes]:
        req = urllib.request.Request(self.base + path, data=body, method=method)
        token = base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
        req.add_header("Authorization", f"Basic {token}")
        if accept:
            req.add_header("Accept", accept)
        if content_type:
            req.add_header("Content-Type", content_type)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    def json(self, method: str, path: str, body: bytes | None = None, **kw):
        status, data = self.request(method, path, body, **kw)
        if status != 200:
            raise SmokeError(f"{method} {path}: HTTP {status}: {data[:300]!r}")
        return json.loads(data)


@dataclass
class Container:
    id: str
    port: int

    def logs(self) -> str:
        return docker.container_logs(self.id)

    def stop(self) -> None:
        docker.remove_container(self.id)


def start(image: str, platform: str, env: dict[str, str], network: str | None = None,
          name: str | None = None, hosts: dict[str, str] | None = None) -> Container:
    """Start the image detached, 8042 published on a free local port; ``hosts`` adds /etc/hosts names
    (``host-gateway`` is the Docker host, where test databases listen)."""
    cmd = ["--platform", platform, "-p", "127.0.0.1::8042"]
    for host_name, address in (hosts or {}).items():
        cmd += ["--add-host", f"{host_name}:{address}"]
    for key, value in env.items():
        cmd += ["-e", f"{key}={value}"]
    if network:
        cmd += ["--network", network]
    if name:
        cmd += ["--name", name]
    cmd.append(image)
    proc = docker.start_container(cmd)
    if proc.returncode != 0:
        raise SmokeError(f"docker run {image}: {proc.stderr.strip()}")
    cid = proc.stdout.strip()
    port = docker.published_port(cid, "8042/tcp")
    try:
        return Container(cid, int(port.strip().splitlines()[0].rsplit(":", 1)[1]))
    except (IndexError, ValueError):
        docker.remove_container(cid)
        raise SmokeError(f"{image}: no published port ({port.strip()!r})") from None


def wait_ready(client: Client, container: Container, seconds: float) -> dict:
    deadline = time.monotonic() + seconds
    last = ""
    while time.monotonic() < deadline:
        if not docker.container_running(container.id):
            raise SmokeError(f"container exited:\n{container.logs()}")
        try:
            status, data = client.request("GET", "/system", timeout=5)
            if status == 200:
                return json.loads(data)
            last = f"HTTP {status}"
        except OSError as exc:
            last = str(exc)
        time.sleep(1)
    raise SmokeError(f"no answer from Orthanc within {seconds:.0f}s ({last}):\n{container.logs()}")


@contextlib.contextmanager
def running(image: str, platform: str, env: dict[str, str], user: str, password: str, seconds: float,
            hosts: dict[str, str] | None = None):
    """A started container, once Orthanc answers: yields (client, container, /system); removed after."""
    container = start(image, platform, env, hosts=hosts)
    try:
        client = Client(f"http://127.0.0.1:{container.port}", user, password)
        system = wait_ready(client, container, seconds)
        yield client, container, system
    finally:
        container.stop()


def check_core(client: Client, version: str, plugins: set[str]) -> dict:
    """Version, plugins, and a DICOM file uploaded and read back."""
    system = client.json("GET", "/system")
    if system.get("Version") != version:
        raise SmokeError(f"/system reports version {system.get('Version')}, want {version}")
    loaded = set(client.json("GET", "/plugins"))
    if not plugins <= loaded:
        raise SmokeError(f"/plugins lacks {sorted(plugins - loaded)} (has {sorted(loaded)})")
    check_plugins(client, plugins)
    data, uids = make_dicom()
    stored = client.json("POST", "/instances", data, content_type="application/dicom")
    status, back = client.request("GET", f"/instances/{stored['ID']}/file")
    if status != 200 or back != data:
        raise SmokeError(f"reading instance {stored['ID']} back: HTTP {status}, {len(back)} bytes, "
                         f"want {len(data)} identical bytes")
    return {"system": system, "plugins": sorted(loaded), "instance": stored, "uids": uids}


def check_plugins(client: Client, plugins: set[str]) -> None:
    """Each plugin answers for itself: its /plugins/<id> entry has a version, and a web plugin
    serves its own route."""
    for plugin in sorted(plugins):
        info = client.json("GET", f"/plugins/{plugin}")
        if not info.get("Version"):
            raise SmokeError(f"plugin {plugin}: /plugins/{plugin} reports no version ({info})")
        route = PLUGIN_ROUTES.get(plugin)
        if route:
            status, body = client.request("GET", route[0])
            if status != 200 or route[1] not in body[:4096].lower():
                raise SmokeError(f"plugin {plugin}: GET {route[0]}: HTTP {status}, {body[:120]!r}")
