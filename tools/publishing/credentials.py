"""Registry credentials: docker's own login store, or the environment.

With REGISTRY_USER and REGISTRY_PASSWORD set, ``docker login`` is run once for
the target registry, the password given on standard input: it never appears on
a command line, in output, in the results file or in an image.  Otherwise
docker uses what ``docker login`` stored before (or no credentials at all).
"""

from __future__ import annotations

import os

from .. import docker
from ..errors import FatalError, last_line

USER_VAR = "REGISTRY_USER"
PASSWORD_VAR = "REGISTRY_PASSWORD"


class CredentialError(FatalError):
    pass


def login_from_environment(registry: str, environ: dict | None = None) -> bool:
    """Log in to ``registry`` if the environment holds credentials; False if it holds none."""
    env = os.environ if environ is None else environ
    user, password = env.get(USER_VAR), env.get(PASSWORD_VAR)
    if not user and not password:
        return False
    if not user or not password:
        raise CredentialError(f"set both {USER_VAR} and {PASSWORD_VAR}, or neither")
    print(f"    logging in to {registry} as {user} (password from {PASSWORD_VAR})", flush=True)
    proc = docker.login(registry, user, password)
    if proc.returncode != 0:
        message = last_line(proc.stderr).replace(password, "***")
        raise CredentialError(f"docker login {registry} as {user} failed: {message}")
    return True
