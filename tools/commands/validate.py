"""``validate``: check versions.toml and print the release sets."""

from __future__ import annotations

from pathlib import Path

from ..configuration import config


def run(path: Path) -> int:
    cfg = config.load(path)
    print(f"{path}: {len(cfg.sets)} sets, {len(cfg.platforms)} platforms, OK")
    for release in cfg.sorted_sets():
        pins = ", ".join(f"{c}={p.version}" for c, p in release.pins.items())
        print(f"  {release.name} ({release.base}; {', '.join(release.platforms)}): {pins}")
    return 0
