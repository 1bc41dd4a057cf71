"""The use cases, one module each, each taking a typed request: build, plan, publish (manifest), smoke,
bench, report and import, validate.  ``tools.cli`` parses the command line into those requests."""
