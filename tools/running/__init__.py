"""Running and recording: buildx runs with live progress, memory sampling, the results file, the bench
and the smoke checks."""
