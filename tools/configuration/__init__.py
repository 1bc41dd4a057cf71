"""Configuration and matrix: versions.toml, release sets x platforms, image names, the nox sessions."""
