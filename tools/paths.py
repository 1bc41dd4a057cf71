"""Where the project's files are, for every command's defaults."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = ROOT / "versions.toml"
DEFAULT_DOCKERFILE = ROOT / "dockerfiles" / "Dockerfile"
DEFAULT_SOURCES = ROOT / "sources"
#: The project's SBOM generator image's folder (whatever Dockerfile a build uses).
SBOM_GENERATOR = ROOT / "dockerfiles" / "sbom"
#: Build records behind the README's build-time table (committed).
REFERENCE = ROOT / "docs" / "build-times.jsonl"
CHART = REFERENCE.with_suffix(".png")
TIMELINE = CHART.with_name("build-timeline.png")
