"""Test data and clients for the functional tests of the plugins (test_plugin_functions.py): DICOM
files made with pydicom, converted with Debian's GDCM tools, sent with DCMTK's `storescu`, a
pyramidal TIFF made with Pillow and libtiff's `tiffcp`, DICOMweb's multipart bodies, and headless
Chromium for the web applications.  Every program here comes from the provisioning step `test
services` (tools/provision.py)."""

from __future__ import annotations

import email.parser
import email.policy
import io
import secrets
import shutil
import subprocess
import tempfile
from pathlib import Path

#: Transfer syntaxes.
EXPLICIT_LE = "1.2.840.10008.1.2.1"
JPEG2000_LOSSLESS = "1.2.840.10008.1.2.4.90"
#: Every program the helpers start, and the Debian package that has it.
PROGRAMS = {"storescu": "dcmtk", "gdcmconv": "libgdcm-tools", "tiffcp": "libtiff-tools",
            "tiffinfo": "libtiff-tools", "tiff2rgba": "libtiff-tools", "chromium": "chromium"}


def program(name: str) -> str:
    found = shutil.which(name)
    assert found, f"{name} is missing (Debian's {PROGRAMS[name]}): run `nox -s provision`"
    return found


def run(plugin: str, what: str, cmd: list[str], timeout: float = 300) -> str:
    """Run a client program; a failure names the plugin and the step."""
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, (f"{plugin}: {what}: {Path(cmd[0]).name} exited with {proc.returncode}:\n"
                                  f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc.stdout + proc.stderr


# --- DICOM -----------------------------------------------------------------------------------------

def dicom(pixels, *, patient_id: str | None = None, patient: str = "PLUGIN^TEST",
          study_uid: str | None = None, series_uid: str | None = None, instance_number: int = 1,
          modality: str = "OT", description: str = "plugin functions", window: tuple[int, int] | None = None,
          ) -> bytes:
    """A Secondary Capture file (Multi-frame for several frames) of 8-bit pixels, explicit little
    endian: ``pixels`` is an array of uint8 shaped (frames, rows, columns) for grey, (frames, rows,
    columns, 3) for RGB."""
    import numpy as np
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import generate_uid

    pixels = np.asarray(pixels, dtype=np.uint8)
    assert pixels.ndim in (3, 4), f"pixels shaped {pixels.shape}: want (frames, rows, columns[, 3])"
    color = pixels.ndim == 4
    frames, rows, columns = pixels.shape[:3]
    sop_class = ("1.2.840.10008.5.1.4.1.1.7.4" if color else "1.2.840.10008.5.1.4.1.1.7.2") if frames > 1 \
        else "1.2.840.10008.5.1.4.1.1.7"  # Multi-frame True Color / Grayscale Byte, or Secondary Capture
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = EXPLICIT_LE
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = study_uid or generate_uid()
    ds.SeriesInstanceUID = series_uid or generate_uid()
    ds.PatientName = patient
    ds.PatientID = patient_id or "PF-" + secrets.token_hex(4)
    ds.StudyDate = ds.SeriesDate = "20260101"
    ds.StudyTime = "120000"
    ds.AccessionNumber = ""
    ds.StudyID = "1"
    ds.SeriesNumber = 1
    ds.InstanceNumber = instance_number
    ds.Modality = modality
    ds.StudyDescription = description
    ds.SeriesDescription = description
    ds.ConversionType = "WSD"
    ds.Rows, ds.Columns = int(rows), int(columns)
    if frames > 1:
        ds.NumberOfFrames = frames
    ds.SamplesPerPixel = 3 if color else 1
    ds.PhotometricInterpretation = "RGB" if color else "MONOCHROME2"
    if color:
        ds.PlanarConfiguration = 0
    ds.BitsAllocated = ds.BitsStored = 8
    ds.HighBit = 7
    ds.PixelRepresentation = 0
    if window:
        ds.WindowCenter, ds.WindowWidth = window
    ds.PixelData = pixels.tobytes()
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


def read(data: bytes):
    import pydicom

    return pydicom.dcmread(io.BytesIO(data))


def quadrants(rows: int, columns: int, levels=(40, 100, 160, 220)):
    """A grey image in four quadrants (top left, top right, bottom left, bottom right)."""
    import numpy as np

    image = np.empty((rows, columns), dtype=np.uint8)
    h, w = rows // 2, columns // 2
    image[:h, :w], image[:h, w:], image[h:, :w], image[h:, w:] = levels
    return image


def stretched(pixels):
    """Grey levels stretched linearly to 0..255, as Orthanc's previews show an image without a window."""
    import numpy as np

    low, high = int(pixels.min()), int(pixels.max())
    return ((pixels.astype(np.float64) - low) * 255 / max(high - low, 1)).round().astype(np.uint8)


def gradient(rows: int, columns: int):
    """A grey image darker to the left and to the top, with every value from 0 to 255."""
    import numpy as np

    y, x = np.mgrid[0:rows, 0:columns]
    return ((x * 255 // max(columns - 1, 1) + y * 255 // max(rows - 1, 1)) // 2).astype(np.uint8)


def jpeg2000(data: bytes, workdir: Path) -> bytes:
    """The file in JPEG 2000 (lossless), converted by GDCM's `gdcmconv`."""
    source, target = workdir / "plain.dcm", workdir / "j2k.dcm"
    source.write_bytes(data)
    run("gdcm", "making a JPEG 2000 file with gdcmconv", [program("gdcmconv"), "--j2k", str(source), str(target)])
    converted = target.read_bytes()
    syntax = str(read(converted).file_meta.TransferSyntaxUID)
    assert syntax == JPEG2000_LOSSLESS, f"gdcm: gdcmconv --j2k wrote transfer syntax {syntax}"
    return converted


def storescu(plugin: str, files: list[Path], port: int, called: str = "ORTHANC", calling: str = "STORESCU") -> str:
    """Send the files over DICOM in one association, with DCMTK's `storescu`."""
    return run(plugin, f"sending {len(files)} files with storescu",
               [program("storescu"), "-aet", calling, "-aec", called, "127.0.0.1", str(port),
                *map(str, files)])


# --- DICOMweb --------------------------------------------------------------------------------------

def multipart(parts: list[bytes], content_type: str = "application/dicom") -> tuple[bytes, str]:
    """A multipart/related body (STOW-RS) and its Content-Type."""
    boundary = "pf-" + secrets.token_hex(12)
    body = b"".join(f"--{boundary}\r\nContent-Type: {content_type}\r\n\r\n".encode() + part + b"\r\n"
                    for part in parts) + f"--{boundary}--\r\n".encode()
    return body, f'multipart/related; type="{content_type}"; boundary={boundary}'


def parts(body: bytes, content_type: str) -> list[tuple[str, bytes]]:
    """The parts of a multipart answer (WADO-RS): (content type, bytes)."""
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body)
    assert message.is_multipart(), f"not a multipart answer: {content_type}"
    return [(part.get_content_type(), part.get_payload(decode=True)) for part in message.iter_parts()]


# --- Images ----------------------------------------------------------------------------------------

def image(data: bytes):
    """A PNG or JPEG decoded with Pillow (its pixels loaded)."""
    from PIL import Image

    decoded = Image.open(io.BytesIO(data))
    decoded.load()
    return decoded


def pyramidal_tiff(path: Path, width: int = 1024, height: int = 768, tile: int = 256, levels: int = 3):
    """A hierarchical TIFF as slide scanners write them: one tiled, JPEG-compressed RGB image per level,
    each half the size of the one before. The levels are drawn with Pillow, tiled and compressed by
    `tiffcp`. Returns the full-resolution picture (a Pillow image): red, green, blue and white quadrants
    with a black diagonal band."""
    from PIL import Image, ImageDraw

    picture = Image.new("RGB", (width, height))
    draw = ImageDraw.Draw(picture)
    w, h = width // 2, height // 2
    for box, color in (((0, 0, w, h), (220, 30, 30)), ((w, 0, width, h), (30, 200, 30)),
                       ((0, h, w, height), (30, 30, 220)), ((w, h, width, height), (240, 240, 240))):
        draw.rectangle((box[0], box[1], box[2] - 1, box[3] - 1), fill=color)
    draw.line((0, 0, width, height), fill=(0, 0, 0), width=24)
    plain = []
    with tempfile.TemporaryDirectory(prefix="levels-") as tmp:
        for level in range(levels):
            scaled = picture.resize((width >> level, height >> level), Image.Resampling.LANCZOS)
            plain.append(Path(tmp) / f"level{level}.tif")
            scaled.save(plain[-1], format="TIFF")
        run("wsi", "making a pyramidal TIFF with tiffcp",
            [program("tiffcp"), "-t", "-w", str(tile), "-l", str(tile), "-c", "jpeg:90", *map(str, plain),
             str(path)])
    info = run("wsi", "reading the pyramidal TIFF with tiffinfo", [program("tiffinfo"), str(path)])
    assert info.count("TIFF Directory") == levels, f"wsi: tiffcp wrote {info.count('TIFF Directory')} levels"
    return picture


def tiff_levels(path: Path) -> list[tuple[int, int]]:
    """The image sizes of a TIFF's directories, as libtiff's `tiffinfo` reads them."""
    import re

    info = run("wsi", f"reading {path.name} with tiffinfo", [program("tiffinfo"), str(path)])
    return [(int(w), int(h)) for w, h in re.findall(r"Image Width: (\d+) Image Length: (\d+)", info)]


def tiff_first_level(path: Path, workdir: Path):
    """The TIFF's first image, decoded by libtiff (`tiff2rgba`) and opened with Pillow."""
    from PIL import Image

    target = workdir / (path.stem + "-rgba.tif")
    run("wsi", f"decoding {path.name} with tiff2rgba", [program("tiff2rgba"), "-c", "none", str(path), str(target)])
    decoded = Image.open(target)
    decoded.load()
    return decoded.convert("RGB")


def mean_difference(a, b) -> float:
    """Mean absolute difference of two Pillow images of the same mode, the first resized to the second."""
    import numpy as np

    if a.size != b.size:
        a = a.resize(b.size)
    return float(np.abs(np.asarray(a, dtype=np.int16) - np.asarray(b, dtype=np.int16)).mean())


def dominant(img) -> tuple[int, int, int]:
    """The mean colour of a Pillow image."""
    import numpy as np

    return tuple(int(v) for v in np.asarray(img.convert("RGB"), dtype=np.float64).reshape(-1, 3).mean(axis=0))


# --- Headless Chromium -----------------------------------------------------------------------------

CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--hide-scrollbars")


def chromium(plugin: str, url: str, *, screenshot: Path | None = None, size: tuple[int, int] = (1024, 768),
             budget_ms: int = 20000) -> str:
    """Load the page in Debian's headless Chromium, its scripts run for ``budget_ms`` of virtual time:
    the DOM it ends with, or a screenshot of the window written to ``screenshot`` (printed, so a person
    can look at it)."""
    with tempfile.TemporaryDirectory(prefix="chromium-") as profile:
        cmd = [program("chromium"), *CHROMIUM_FLAGS, f"--user-data-dir={profile}",
               f"--virtual-time-budget={budget_ms}", f"--window-size={size[0]},{size[1]}"]
        cmd += [f"--screenshot={screenshot}"] if screenshot else ["--dump-dom"]
        proc = subprocess.run([*cmd, url], capture_output=True, text=True, timeout=180)
    what = "screenshot of" if screenshot else "loading"
    assert proc.returncode == 0, f"{plugin}: {what} {url} in Chromium: exit {proc.returncode}: {proc.stderr[-2000:]}"
    if screenshot:
        assert screenshot.exists(), f"{plugin}: Chromium wrote no screenshot of {url}: {proc.stderr[-2000:]}"
        print(f"{plugin}: screenshot of {url}: {screenshot}")
    return proc.stdout
