"""Load and validate ``versions.toml``.

Everything that is wrong with the file is reported as one ``ConfigError`` whose
text is a single line naming the file, the set (or table) and the key, so that a
release engineer sees at once what to fix.  Nothing is built before the file
has been read in full.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, NamedTuple

from packaging.version import InvalidVersion, Version

from ..errors import FatalError

#: The components the Dockerfile knows how to build, in build order.
COMPONENTS = ("orthanc", "postgresql", "mysql", "dicomweb", "gdcm", "webviewer", "wsi")
#: The images the Dockerfile produces (its final targets).
IMAGES = ("orthanc", "orthanc-plugins")
#: The compilers a build can use (the Dockerfile's build argument TOOLCHAIN): Debian's GCC, or clang.
TOOLCHAINS = ("gcc", "clang")
#: The toolchain of a build when versions.toml says none (and of every record made before the setting).
DEFAULT_TOOLCHAIN = "gcc"


class PlatformSupport(NamedTuple):
    name: str  # the platform's name in versions.toml and in tags (<set>-<name>)
    debian_arch: str  # Debian's name of the architecture (debootstrap --arch, multiarch packages)
    qemu: str  # the binfmt_misc entry that runs its binaries on another machine
    machines: tuple[str, ...]  # what `uname -m` says on a host that builds it natively
    described: str  # how reports name a host of this architecture


#: The OCI platforms the Dockerfile can build (its cross toolchains and Debian architectures),
#: the only values ``[platforms]`` may give: the one map of the architectures' names.
SUPPORTED_PLATFORMS = {
    "linux/amd64": PlatformSupport("amd64", "amd64", "qemu-x86_64", ("x86_64", "amd64"), "x86-64"),
    "linux/arm64": PlatformSupport("arm64", "arm64", "qemu-aarch64", ("aarch64", "arm64"), "arm64"),
    "linux/arm/v7": PlatformSupport("armv7", "armhf", "qemu-arm", ("armv7l", "armv8l"), "armv7"),
}
#: Moving tags that ``manifest`` may maintain.
ALIASES = ("latest", "minor")

TOP_LEVEL_KEYS = ("settings", "platforms", "distributions", "components", "sets")
SETTINGS_KEYS = {
    "registry": str,
    "namespace": str,
    "base_registry": str,
    "default_set": str,
    "default_image": str,
    "results": str,
    "aliases": list,
    "sources": list,
    "mirror": str,
    "toolchain": str,
    "sbom_generator": str,
}
#: Settings that may be left out, with their defaults.
OPTIONAL_SETTINGS = ("sources", "mirror", "toolchain", "sbom_generator")
#: Where sources come from (see tools/planning/sources.py), in the default order.
PROVIDERS = ("local", "debian", "mirror", "tarball", "mercurial")
COMPONENT_KEYS = {"repository": str, "branch": str, "subdir": str, "tarball": str}
PIN_KEYS = {"version": str, "debian": str, "sha256": str, "tarball": str}
SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
SET_KEYS = {"base": str, "platforms": list}

# A set name becomes part of a nox session name (build-<set>-<arch>) and of an
# image tag (<set>-<arch>): tag characters only, no leading separator.
SET_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._]*(-[A-Za-z0-9._]+)*$")
SET_NAME_MAX = 100  # leaves room for "-<arch>" within Docker's 128-character tags
VERSION_RE = re.compile(r"^[0-9]+(\.[0-9]+){1,3}$")
BRANCH_RE = re.compile(r"^[A-Za-z][A-Za-z0-9]*-[0-9]+(\.[0-9]+){1,3}$")
DEBIAN_VERSION_RE = re.compile(r"^([0-9]+:)?[0-9][A-Za-z0-9.+~]*-[A-Za-z0-9.+~]+$")
PLATFORM_NAME_RE = re.compile(r"^[a-z][a-z0-9]*$")
DISTRIBUTION_NAME_RE = re.compile(r"^[a-z][a-z0-9]*$")  # a Debian suite's code name
OCI_PLATFORM_RE = re.compile(r"^[a-z]+/[a-z0-9_]+(/v[0-9]+)?$")
REGISTRY_RE = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?(:[0-9]{1,5})?$")
REPO_PATH_RE = re.compile(r"^[a-z0-9]+([._-][a-z0-9]+)*(/[a-z0-9]+([._-][a-z0-9]+)*)*$")
IMAGE_REF_RE = re.compile(r"^[a-z0-9]+([._/-][a-z0-9]+)*:[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$")
URL_RE = re.compile(r"^(https?|ssh|file)://\S+$")


class ConfigError(FatalError):
    """A problem in versions.toml, described in one line."""


@dataclass(frozen=True)
class Component:
    name: str
    repository: str
    branch_template: str
    subdir: str = ""
    tarball_template: str = ""  # upstream release tarball URL with {version}

    def branch(self, version: str) -> str:
        return self.branch_template.format(version=version)

    def tarball(self, version: str) -> str:
        return self.tarball_template.format(version=version) if self.tarball_template else ""

    @property
    def build_arg(self) -> str:
        """Name of the Dockerfile build argument carrying this component's branch."""
        return f"{self.name.upper()}_BRANCH"


@dataclass(frozen=True)
class Pin:
    """One component's version in one release set."""

    component: str
    version: str
    branch: str
    debian: str | None = None
    sha256: str | None = None  # of the release tarball
    tarball: str | None = None  # URL of the tarball (a mirror, or file://), else the component's

    @property
    def parsed(self) -> Version:
        return Version(self.version)


@dataclass(frozen=True)
class ReleaseSet:
    name: str
    base: str
    platforms: tuple[str, ...]
    pins: dict[str, Pin]

    @property
    def orthanc_version(self) -> Version:
        return self.pins["orthanc"].parsed

    def sort_key(self) -> tuple:
        try:
            own = Version(self.name)
        except InvalidVersion:
            own = self.orthanc_version
        return (own, self.name)


@dataclass(frozen=True)
class Settings:
    registry: str
    namespace: str
    base_registry: str
    default_set: str
    default_image: str
    results: str
    aliases: tuple[str, ...]
    sources: tuple[str, ...] = PROVIDERS
    mirror: str = ""  # a folder (relative to versions.toml) or URL of <Branch>.tar.gz archives
    toolchain: str = DEFAULT_TOOLCHAIN  # the compilers of every build (TOOLCHAINS), unless a build says otherwise
    # The image BuildKit runs to make the SBOM of pushed and reproducible builds; "": the project's
    # own (dockerfiles/sbom/, built by the tools).
    sbom_generator: str = ""


@dataclass(frozen=True)
class Config:
    path: Path
    settings: Settings
    platforms: dict[str, str]
    distributions: dict[str, str]
    components: dict[str, Component]
    sets: dict[str, ReleaseSet] = field(default_factory=dict)

    @property
    def root(self) -> Path:
        return self.path.parent

    def release_set(self, name: str) -> ReleaseSet:
        if name not in self.sets:
            known = ", ".join(self.sets) or "none"
            raise ConfigError(f"{self.path.name}: set '{name}': no such set (known: {known})")
        return self.sets[name]

    def sorted_sets(self) -> list[ReleaseSet]:
        return sorted(self.sets.values(), key=ReleaseSet.sort_key)

    def base_image(self, release_set: ReleaseSet, base_registry: str | None = None) -> str:
        return self.distribution_image(release_set.base, base_registry)

    def distribution_image(self, distribution: str, base_registry: str | None = None) -> str:
        """A distribution's base image, in versions.toml's base registry unless another is given."""
        registry = self.settings.base_registry if base_registry is None else base_registry
        image = self.distributions[distribution]
        return f"{registry.rstrip('/')}/{image}" if registry else image


class _Checker:
    """Small helpers that raise ConfigError with the file/where/key prefix."""

    def __init__(self, path: Path):
        self.name = path.name

    def fail(self, where: str, key: str | None, message: str) -> None:
        text = f"{self.name}: {where}"
        if key is not None:
            text += f": key '{key}'"
        raise ConfigError(f"{text}: {message}")

    def table(self, value: Any, where: str, key: str | None) -> dict:
        if not isinstance(value, dict):
            self.fail(where, key, f"expected a table, got {_type_name(value)}")
        return value

    def keys(self, table: dict, allowed: dict | tuple, where: str) -> None:
        for key in table:
            if key not in allowed:
                self.fail(where, key, "unknown key (allowed: " + ", ".join(allowed) + ")")

    def typed(self, table: dict, schema: dict, where: str, required: tuple = ()) -> None:
        for key in required:
            if key not in table:
                self.fail(where, key, "missing")
        for key, value in table.items():
            expected = schema.get(key)
            if expected is not None and not isinstance(value, expected):
                self.fail(where, key, f"expected {_type_name(expected())}, got {_type_name(value)}")

    def match(self, regex: re.Pattern, value: str, where: str, key: str, what: str, hint: str = "") -> None:
        if not regex.fullmatch(value):
            self.fail(where, key, f"malformed {what} '{value}'" + (f" (want {hint})" if hint else ""))


def _type_name(value: Any) -> str:
    return {
        str: "a string",
        int: "an integer",
        float: "a number",
        bool: "a boolean",
        list: "an array",
        dict: "a table",
    }.get(type(value), type(value).__name__)


def load(path: str | Path) -> Config:
    """Read and validate a versions file; raise ConfigError on the first problem."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path.name}: file not found ({path})") from None
    except IsADirectoryError:
        raise ConfigError(f"{path.name or path}: is a directory, not a versions file ({path})") from None
    except OSError as exc:  # a symbolic link loop, no permission, ...
        raise ConfigError(f"{path.name or path}: cannot read ({exc.strerror or exc}: {path})") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path.name}: not UTF-8 text ({exc.reason})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(_toml_error(path.name, str(exc))) from None
    return parse(raw, path)


def _toml_error(name: str, message: str) -> str:
    dup = re.match(r"Cannot declare \('sets', '([^']*)'\) twice \(at line (\d+)", message)
    if dup:
        return f"{name}: set '{dup.group(1)}': duplicate set (declared again at line {dup.group(2)})"
    return f"{name}: not valid TOML: {message}"


def parse(raw: dict, path: Path) -> Config:
    check = _Checker(path)
    for key in raw:
        if key not in TOP_LEVEL_KEYS:
            check.fail("top level", key, "unknown table (allowed: " + ", ".join(TOP_LEVEL_KEYS) + ")")
    for key in TOP_LEVEL_KEYS:
        if key not in raw:
            check.fail("top level", key, "missing table")

    platforms = _platforms(check, raw["platforms"])
    distributions = _distributions(check, raw["distributions"])
    components = _components(check, raw["components"])
    sets = _sets(check, raw["sets"], components, platforms, distributions)
    settings = _settings(check, raw["settings"], sets)
    return Config(path, settings, platforms, distributions, components, sets)


def _platforms(check: _Checker, raw: Any) -> dict[str, str]:
    table = check.table(raw, "platforms", None)
    if not table:
        check.fail("platforms", None, "no platform defined")
    for name, oci in table.items():
        check.match(PLATFORM_NAME_RE, name, "platforms", name, "platform name")
        if not isinstance(oci, str):
            check.fail("platforms", name, f"expected a string, got {_type_name(oci)}")
        check.match(OCI_PLATFORM_RE, oci, "platforms", name, "platform", "os/arch[/variant]")
        if oci not in SUPPORTED_PLATFORMS:
            check.fail("platforms", name, f"the Dockerfile cannot build platform '{oci}' "
                       f"(it builds: {', '.join(SUPPORTED_PLATFORMS)})")
    return dict(table)


def _distributions(check: _Checker, raw: Any) -> dict[str, str]:
    table = check.table(raw, "distributions", None)
    result = {}
    for name, entry in table.items():
        where = f"distribution '{name}'"
        if not DISTRIBUTION_NAME_RE.fullmatch(name):
            check.fail("distributions", name, "malformed distribution name (want a Debian code name, e.g. bookworm)")
        entry = check.table(entry, where, None)
        check.keys(entry, ("image",), where)
        check.typed(entry, {"image": str}, where, required=("image",))
        check.match(IMAGE_REF_RE, entry["image"], where, "image", "image reference", "name:tag")
        result[name] = entry["image"]
    return result


def _components(check: _Checker, raw: Any) -> dict[str, Component]:
    table = check.table(raw, "components", None)
    for name in table:
        if name not in COMPONENTS:
            check.fail("components", name, "unknown component (known: " + ", ".join(COMPONENTS) + ")")
    result = {}
    for name in COMPONENTS:
        where = f"component '{name}'"
        if name not in table:
            check.fail("components", name, "missing component")
        entry = check.table(table[name], where, None)
        check.keys(entry, COMPONENT_KEYS, where)
        check.typed(entry, COMPONENT_KEYS, where, required=("repository", "branch"))
        check.match(URL_RE, entry["repository"], where, "repository", "repository URL")
        template = entry["branch"]
        if template.count("{version}") != 1 or "{" in template.replace("{version}", ""):
            check.fail(where, "branch", f"malformed branch '{template}': needs exactly one {{version}}")
        check.match(BRANCH_RE, template.format(version="1.0"), where, "branch", "branch template")
        tarball = entry.get("tarball", "")
        if tarball:
            if tarball.count("{version}") != 1 or "{" in tarball.replace("{version}", ""):
                check.fail(where, "tarball", f"malformed tarball URL '{tarball}': needs exactly one {{version}}")
            check.match(URL_RE, tarball.format(version="1.0"), where, "tarball", "tarball URL")
        result[name] = Component(name, entry["repository"], template, entry.get("subdir", ""), tarball)
    return result


def _sets(check, raw, components, platforms, distributions) -> dict[str, ReleaseSet]:
    table = check.table(raw, "sets", None)
    if not table:
        check.fail("sets", None, "no release set defined")
    result: dict[str, ReleaseSet] = {}
    seen: dict[Version | str, str] = {}
    for name, entry in table.items():
        where = f"set '{name}'"
        _set_name(check, name, platforms)
        key = _normalised(name)
        if key in seen:
            check.fail(where, None, f"duplicate set: same as set '{seen[key]}'")
        seen[key] = name
        entry = check.table(entry, where, None)
        for key_name in entry:
            if key_name not in SET_KEYS and key_name not in COMPONENTS:
                check.fail(where, key_name, "unknown component or key")
        check.typed(entry, SET_KEYS, where, required=("base",))
        if entry["base"] not in distributions:
            known = ", ".join(distributions) or "none"
            check.fail(where, "base", f"unknown distribution '{entry['base']}' (known: {known})")
        set_platforms = entry.get("platforms", list(platforms))
        if not set_platforms:
            check.fail(where, "platforms", "empty list")
        for platform in set_platforms:
            if not isinstance(platform, str):
                check.fail(where, "platforms", f"expected a string, got {_type_name(platform)}")
            if platform not in platforms:
                check.fail(where, "platforms", f"unknown platform '{platform}' (known: {', '.join(platforms)})")
        if len(set(set_platforms)) != len(set_platforms):
            check.fail(where, "platforms", "a platform is listed twice")
        pins = {}
        for comp in COMPONENTS:
            if comp not in entry:
                check.fail(where, comp, "missing component")
            pins[comp] = _pin(check, where, components[comp], entry[comp])
        result[name] = ReleaseSet(name, entry["base"], tuple(set_platforms), pins)
    return result


def _set_name(check: _Checker, name: str, platforms: dict[str, str]) -> None:
    where = f"set '{name}'"
    if len(name) > SET_NAME_MAX or not SET_NAME_RE.fullmatch(name):
        check.fail(where, None, "set name must be letters, digits, '.', '_' and inner '-' "
                   f"(at most {SET_NAME_MAX}), to fit a session name and an image tag")
    for suffix in [*platforms, "sequential"]:
        if name.endswith("-" + suffix):
            check.fail(where, None, f"set name must not end in '-{suffix}': session names would be ambiguous")
    if name in ALIASES or name == "latest":
        check.fail(where, None, f"set name '{name}' is reserved for a moving tag")


def _normalised(name: str) -> Version | str:
    """Names that are the same version (1.9 and 1.9.0), or differ only in case, collide."""
    try:
        return Version(name)
    except InvalidVersion:
        return name.lower()


def _pin(check: _Checker, where: str, component: Component, value: Any) -> Pin:
    key = component.name
    if isinstance(value, str):
        value = {"version": value}
    elif not isinstance(value, dict):
        check.fail(where, key, f"expected a version string or a table, got {_type_name(value)}")
    for sub in value:
        if sub not in PIN_KEYS:
            check.fail(where, f"{key}.{sub}", "unknown key (allowed: " + ", ".join(PIN_KEYS) + ")")
    for sub, expected in PIN_KEYS.items():
        if sub in value and not isinstance(value[sub], expected):
            check.fail(where, f"{key}.{sub}", f"expected {_type_name(expected())}, got {_type_name(value[sub])}")
    if "version" not in value:
        check.fail(where, f"{key}.version", "missing")
    version = value["version"]
    if not VERSION_RE.fullmatch(version):
        check.fail(where, key, f"malformed version '{version}' (want digits and dots, e.g. 1.12.7)")
    branch = component.branch(version)
    check.match(BRANCH_RE, branch, where, key, "branch")
    debian = value.get("debian")
    if debian is not None:
        check.match(DEBIAN_VERSION_RE, debian, where, f"{key}.debian", "Debian version")
        upstream = debian.split(":", 1)[-1].rsplit("-", 1)[0]
        if re.split(r"[+~]", upstream)[0] != version:
            check.fail(where, f"{key}.debian", f"Debian version '{debian}' is not of upstream version {version}")
    sha256 = value.get("sha256")
    if sha256 is not None:
        check.match(SHA256_RE, sha256, where, f"{key}.sha256", "sha256", "64 lower-case hex digits")
    tarball = value.get("tarball")
    if tarball is not None:
        check.match(URL_RE, tarball, where, f"{key}.tarball", "tarball URL")
        if sha256 is None:
            check.fail(where, f"{key}.tarball", "a tarball needs its sha256 pinned beside it")
    return Pin(key, version, branch, debian, sha256, tarball)


def base_registry_problem(value: str) -> str | None:
    """What is wrong with a base registry (``host[:port][/path]``, or empty for Docker Hub), else None."""
    if not value:
        return None
    host, _, rest = value.partition("/")
    if not REGISTRY_RE.fullmatch(host):
        return f"malformed registry '{value}' (want host[:port][/path])"
    if rest and not REPO_PATH_RE.fullmatch(rest):
        return f"malformed registry path '{rest}' (want lower-case words separated by '/', '.', '_' or '-')"
    return None


def results_path_problem(value: str) -> str | None:
    """The results file named in versions.toml stays inside the project: a relative path without '..'."""
    if not value.strip():
        return "empty path"
    if not value.isprintable():
        return f"malformed path {value!r} (control characters)"
    path = PurePosixPath(value)
    if path.is_absolute() or ".." in path.parts:
        return (f"'{value}' is outside the project (want a relative path without '..'; "
                "--results takes any file)")
    return None


def _settings(check: _Checker, raw: Any, sets: dict[str, ReleaseSet]) -> Settings:
    where = "settings"
    table = check.table(raw, where, None)
    check.keys(table, SETTINGS_KEYS, where)
    check.typed(table, SETTINGS_KEYS, where, required=tuple(k for k in SETTINGS_KEYS if k not in OPTIONAL_SETTINGS))
    check.match(REGISTRY_RE, table["registry"], where, "registry", "registry", "host[:port]")
    if table["namespace"]:
        check.match(REPO_PATH_RE, table["namespace"], where, "namespace", "namespace")
    base = table["base_registry"]
    problem = base_registry_problem(base)
    if problem:
        check.fail(where, "base_registry", problem)
    if table["default_set"] not in sets:
        check.fail(where, "default_set", f"no such set '{table['default_set']}'")
    if table["default_image"] not in IMAGES:
        check.fail(where, "default_image", f"unknown image '{table['default_image']}' (known: {', '.join(IMAGES)})")
    problem = results_path_problem(table["results"])
    if problem:
        check.fail(where, "results", problem)
    for alias in table["aliases"]:
        if alias not in ALIASES:
            check.fail(where, "aliases", f"unknown alias '{alias}' (known: {', '.join(ALIASES)})")
    order = table.get("sources", list(PROVIDERS))
    if not order:
        check.fail(where, "sources", "empty list (known providers: " + ", ".join(PROVIDERS) + ")")
    for provider in order:
        if provider not in PROVIDERS:
            check.fail(where, "sources", f"unknown provider {provider!r} (known: {', '.join(PROVIDERS)})")
    if len(set(order)) != len(order):
        check.fail(where, "sources", "a provider is listed twice")
    mirror = table.get("mirror", "")
    if mirror and ("\n" in mirror or mirror != mirror.strip()):
        check.fail(where, "mirror", f"malformed mirror {mirror!r}")
    toolchain = table.get("toolchain", DEFAULT_TOOLCHAIN)
    if toolchain not in TOOLCHAINS:
        check.fail(where, "toolchain", f"unknown toolchain '{toolchain}' (known: {', '.join(TOOLCHAINS)})")
    generator = table.get("sbom_generator", "")
    if generator and (generator != generator.strip() or any(c.isspace() or c == "," for c in generator)):
        check.fail(where, "sbom_generator", f"not an image reference: {generator!r}")
    return Settings(
        registry=table["registry"],
        namespace=table["namespace"],
        base_registry=base,
        default_set=table["default_set"],
        default_image=table["default_image"],
        results=table["results"],
        aliases=tuple(table["aliases"]),
        sources=tuple(order),
        mirror=mirror,
        toolchain=toolchain,
        sbom_generator=generator,
    )
