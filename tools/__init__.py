"""Build, test and publish Orthanc Docker images from pinned release sets."""
