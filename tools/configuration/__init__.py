"""Configuration and matrix: versions.toml, release sets x platforms, upstream releases."""
