"""Lay out the web assets (JavaScript, CSS, fonts) a plugin's CMake build would download.

The DICOMweb, Web Viewer and WSI plugins fetch their JavaScript libraries from
Orthanc's download server while CMake configures them (``DownloadPackage`` and
``DownloadCompressedFile`` in their own CMake files).  Both macros do nothing when
their target folder or file already exists in the build folder, so the build works
offline once each item is laid out there, as upstream's archive would have unpacked
it.  The items come from npm tarballs pinned with their SRI integrity in
``dockerfiles/web-assets.toml`` (its header describes the format):

- :func:`needed` reads which items a source tree's CMake files ask for;
- :func:`load` reads and validates the catalogue;
- :func:`fetch` downloads one npm tarball into a cache, verified before use;
- :func:`layout` places every needed item in a build folder.

Every problem is one :class:`AssetError` line naming the file and the key.
"""

from __future__ import annotations

import base64
import hashlib
import re
import shutil
import tarfile
import tempfile
import tomllib
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO

from ..errors import FatalError

#: The catalogue shipped with the project.
CATALOGUE = Path(__file__).resolve().parents[2] / "dockerfiles" / "web-assets.toml"
#: Where npm tarballs are downloaded from (the tests point it at a folder).
REGISTRY = "https://registry.npmjs.org"

SOURCE_KEYS = ("npm", "integrity", "into", "path", "files")
NPM_RE = re.compile(r"^(?P<name>(@[a-z0-9][a-z0-9._-]*/)?[a-z0-9][a-z0-9._-]*)"
                    r"@(?P<version>[0-9]+\.[0-9]+\.[0-9]+([-+][0-9A-Za-z.+-]+)?)$")
INTEGRITY_RE = re.compile(r"^sha512-[A-Za-z0-9+/]{86}==$")
NAME_RE = re.compile(r"^[A-Za-z0-9_+-][A-Za-z0-9_.+-]*$")

# CMake: comments, quoted arguments, parentheses and unquoted words, in that order.
CMAKE_TOKEN_RE = re.compile(r"""
    (?P<comment>\#\[(?P<eq>=*)\[.*?\](?P=eq)\]|\#[^\n]*)
  | (?P<quoted>"(?:[^"\\]|\\.)*")
  | (?P<paren>[()])
  | (?P<word>(?:[^\s()#"\\]|\\.)+)
  | \s+
""", re.VERBOSE | re.DOTALL)
VARIABLE_RE = re.compile(r"\$\{([A-Za-z0-9_.+-]+)\}")
EXPANSION_ROUNDS = 4
IDENTIFIER_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
TRUE_CONSTANTS = {"1", "ON", "YES", "TRUE", "Y"}
FALSE_CONSTANTS = {"0", "OFF", "NO", "FALSE", "N", "IGNORE", "NOTFOUND", ""}
#: Tests in if() that this reader does not evaluate: a branch behind one counts as taken.
CMAKE_TESTS = {
    "EXISTS", "IS_DIRECTORY", "IS_SYMLINK", "IS_ABSOLUTE", "IS_NEWER_THAN", "COMMAND", "POLICY",
    "TARGET", "TEST", "DEFINED", "MATCHES", "LESS", "GREATER", "EQUAL", "LESS_EQUAL",
    "GREATER_EQUAL", "STRLESS", "STRGREATER", "STREQUAL", "STRLESS_EQUAL", "STRGREATER_EQUAL",
    "VERSION_LESS", "VERSION_GREATER", "VERSION_EQUAL", "VERSION_LESS_EQUAL",
    "VERSION_GREATER_EQUAL", "IN_LIST", "PATH_EQUAL",
}
DOWNLOADS = {"downloadpackage", "downloadcompressedfile"}


class AssetError(FatalError):
    """A web asset could not be found, fetched, verified or laid out (one line)."""


@dataclass(frozen=True)
class Source:
    """One npm package, or part of one, placed under ``into`` (relative to the build folder)."""

    package: str  # npm name, possibly scoped: "@popperjs/core"
    version: str
    integrity: str  # SRI: "sha512-<base64>"
    into: str
    path: str = "."  # the file or folder of the package that ``into`` is a copy of
    files: tuple[tuple[str, str], ...] = ()  # or else: (place under ``into``, path in the package)

    @property
    def spec(self) -> str:
        return f"{self.package}@{self.version}"

    @property
    def url(self) -> str:
        basename = self.package.rsplit("/", 1)[-1]
        return f"{REGISTRY}/{self.package}/-/{basename}-{self.version}.tgz"


@dataclass(frozen=True)
class Asset:
    """One item a CMake build expects in its build folder, and where its files come from."""

    name: str
    sources: tuple[Source, ...]


class Catalogue(dict[str, Asset]):
    """The items of one data file by name; remembers the file for error messages."""

    def __init__(self, path: Path, assets: Mapping[str, Asset]) -> None:
        super().__init__(assets)
        self.path = path


# --- which items a tree asks for -------------------------------------------------------


def cmake_files(tree: Path) -> list[Path]:
    """The component's own CMake files, the top one first (Orthanc's and third parties' are not read)."""
    files = [tree / "CMakeLists.txt", tree / "ViewerPlugin" / "CMakeLists.txt"]
    files += sorted((tree / "ViewerPlugin").glob("*.cmake")) + sorted((tree / "Resources" / "CMake").glob("*.cmake"))
    return [path for path in files if path.is_file()]


def needed(tree: Path, options: Mapping[str, bool] | None = None) -> list[str]:
    """The names of the items the tree's CMake files download into the build folder, sorted.

    Branches are followed as CMake would, with the options' defaults from the files
    overridden by ``options`` (the build's ``-D`` flags).  So ``BUILD_BABEL_POLYFILL``
    and ``BUILD_BOOTSTRAP_VUE`` are OFF, the branches that download prebuilt files; their
    ON branches run ``npm install`` in the build instead, which the catalogue does not
    serve (it holds bootstrap-vue's dist/, not a source tree to build).  A condition this
    reader cannot evaluate (a test such as ``EXISTS``, or an option no file defines)
    counts as taken, so that no item is missed.  Only targets directly in the build
    folder are web assets: ``${CMAKE_CURRENT_BINARY_DIR}/name`` or a relative ``name``;
    the third-party library sources of a static build (``${CMAKE_BINARY_DIR}/...``)
    come from Orthanc's download server, which such a build needs anyway.
    """
    variables = {key: "ON" if value else "OFF" for key, value in (options or {}).items()}
    names: set[str] = set()
    for path in cmake_files(tree):
        names.update(_downloads(path, variables))
    return sorted(names)


def _downloads(path: Path, variables: dict[str, str]) -> Iterator[str]:
    """The item names of the download calls on the branches taken, updating ``variables``."""
    stack: list[tuple[bool, bool]] = []  # per open if(): (this branch is read, an earlier one surely was)
    for name, args in _commands(path.read_text(encoding="utf-8", errors="replace")):
        if name in ("if", "elseif", "else", "endif"):
            _branch(stack, name, args, variables)
        elif all(read for read, _ in stack):
            yield from _command(name, args, variables)


def _branch(stack: list[tuple[bool, bool]], name: str, args: list[str], variables: Mapping[str, str]) -> None:
    """Follow if/elseif/else/endif; a branch that may be taken is read, unless an earlier one surely was."""
    if name == "endif":
        if stack:
            stack.pop()
        return
    if name == "if":
        stack.append((False, False))
    elif not stack:
        return
    done = stack[-1][1]
    if done or not all(read for read, _ in stack[:-1]):
        value: bool | None = False
    else:
        value = True if name == "else" else _condition(args, variables)
    stack[-1] = (value is not False, done or value is True)


def _command(name: str, args: list[str], variables: dict[str, str]) -> Iterator[str]:
    """Record set()/option(); give the item name of a download call."""
    if name == "set" and args:
        _set(args, variables)
    elif name == "option" and args:
        variables.setdefault(args[0], args[2] if len(args) > 2 else "OFF")
    elif name in DOWNLOADS and len(args) >= 3:
        item = _item_name(_expand(args[2], variables))
        if item:
            yield item


def _set(args: list[str], variables: dict[str, str]) -> None:
    """set(VAR value...) as CMake does; a CACHE entry does not replace a value already given."""
    var, values = args[0], args[1:]
    if "CACHE" in values:
        if var not in variables:
            variables[var] = ";".join(_expand(v, variables) for v in values[:values.index("CACHE")])
    elif values:
        variables[var] = ";".join(_expand(v, variables) for v in values if v != "PARENT_SCOPE")
    else:
        variables.pop(var, None)


def _item_name(target: str) -> str | None:
    """The name under the build folder for a download target, None for any other place."""
    prefix = "${CMAKE_CURRENT_BINARY_DIR}/"
    if target.startswith(prefix):
        target = target[len(prefix):].rstrip("/")
    return target if NAME_RE.fullmatch(target) else None


def _expand(text: str, variables: Mapping[str, str]) -> str:
    """Substitute known ``${VAR}`` references, innermost first; unknown ones stay as they are.

    Values are stored expanded, so a few rounds suffice (for names built of references);
    the bound stops a list that names itself, ``set(X ${X} more)``, from growing forever.
    """
    for _ in range(EXPANSION_ROUNDS):
        expanded = VARIABLE_RE.sub(lambda m: variables.get(m.group(1), m.group(0)), text)
        if expanded == text:
            break
        text = expanded
    return text


def _commands(text: str) -> Iterator[tuple[str, list[str]]]:
    """Each command invocation as (lower-case name, arguments); nested parentheses are arguments."""
    tokens = [(m.lastgroup, m.group(m.lastgroup)) for m in CMAKE_TOKEN_RE.finditer(text)
              if m.lastgroup in ("quoted", "paren", "word")]
    i = 0
    while i < len(tokens):
        kind, value = tokens[i]
        if kind == "word" and i + 1 < len(tokens) and tokens[i + 1] == ("paren", "("):
            args, i = _arguments(tokens, i + 2)
            yield value.lower(), args
        else:
            i += 1


def _arguments(tokens: list[tuple[str, str]], i: int) -> tuple[list[str], int]:
    """The arguments from token ``i`` to the closing parenthesis, and the index after it."""
    args: list[str] = []
    depth = 0
    while i < len(tokens):
        kind, value = tokens[i]
        i += 1
        if kind == "paren":
            depth += 1 if value == "(" else -1
            if depth < 0:
                break
            args.append(value)
        else:
            args.append(value[1:-1].replace('\\"', '"') if kind == "quoted" else value)
    return args, i


def _condition(args: list[str], variables: Mapping[str, str]) -> bool | None:
    """An if() condition made of NOT/AND/OR, parentheses, constants and variables: True,
    False, or None when it cannot be told here (three-valued logic)."""
    words = [a for a in args if a not in ("(", ")", "NOT", "AND", "OR")]
    if any(w.upper() in CMAKE_TESTS or not (IDENTIFIER_RE.match(w) or w.isdigit()) for w in words):
        return None
    tokens = list(args)
    try:
        value = _or(tokens, variables)
    except IndexError:
        return None
    return value if not tokens else None


def _or(tokens: list[str], variables: Mapping[str, str]) -> bool | None:
    values = [_and(tokens, variables)]
    while tokens and tokens[0] == "OR":
        tokens.pop(0)
        values.append(_and(tokens, variables))
    return True if True in values else (None if None in values else False)


def _and(tokens: list[str], variables: Mapping[str, str]) -> bool | None:
    values = [_not(tokens, variables)]
    while tokens and tokens[0] == "AND":
        tokens.pop(0)
        values.append(_not(tokens, variables))
    return False if False in values else (None if None in values else True)


def _not(tokens: list[str], variables: Mapping[str, str]) -> bool | None:
    token = tokens.pop(0)
    if token == "NOT":
        value = _not(tokens, variables)
        return None if value is None else not value
    if token == "(":
        value = _or(tokens, variables)
        if tokens.pop(0) != ")":
            raise IndexError("unbalanced")
        return value
    return _truth(token, variables)


def _truth(word: str, variables: Mapping[str, str]) -> bool | None:
    """A constant's value, else a variable's; None for a variable no file defines."""
    for text in (word, variables.get(word)):
        if text is None:
            return None
        upper = text.upper()
        if upper in TRUE_CONSTANTS or (upper.isdigit() and int(upper) != 0):
            return True
        if upper in FALSE_CONSTANTS or upper.endswith("-NOTFOUND"):
            return False
    return True  # a variable set to something that is no false constant


# --- the catalogue ----------------------------------------------------------------------


def load(path: Path = CATALOGUE) -> Catalogue:
    """Read and validate the data file; the first problem is an AssetError."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise AssetError(f"{path}: not readable ({exc})") from None
    except tomllib.TOMLDecodeError as exc:
        raise AssetError(f"{path}: not valid TOML ({exc})") from None
    extra = sorted(set(raw) - {"assets"})
    if extra:
        raise AssetError(f"{path}: {extra[0]}: unknown table (only [assets.\"<name>\"])")
    tables = raw.get("assets", {})
    if not isinstance(tables, dict):
        raise AssetError(f"{path}: assets: expected a table")
    return Catalogue(path, {name: _asset(path, name, table) for name, table in tables.items()})


def _asset(path: Path, name: str, table: Any) -> Asset:
    where = f'{path}: assets."{name}"'
    if not NAME_RE.fullmatch(name):
        raise AssetError(f"{where}: not a file name")
    if not isinstance(table, dict):
        raise AssetError(f"{where}: expected a table")
    if "sources" in table:
        if set(table) != {"sources"}:
            raise AssetError(f"{where}: give either 'sources' or one source's keys, not both")
        entries = table["sources"]
        if not isinstance(entries, list) or not entries:
            raise AssetError(f"{where}.sources: expected a non-empty array of tables")
        sources = tuple(_source(f"{where}.sources[{i}]", name, e) for i, e in enumerate(entries))
    else:
        sources = (_source(where, name, table),)
    if not any(PurePosixPath(s.into).parts[0] == name for s in sources):
        raise AssetError(f"{where}: no source places '{name}' itself (see 'into')")
    return Asset(name, sources)


def _source(where: str, name: str, table: Any) -> Source:
    if not isinstance(table, dict):
        raise AssetError(f"{where}: expected a table")
    for key in table:
        if key not in SOURCE_KEYS:
            raise AssetError(f"{where}.{key}: unknown key (allowed: {', '.join(SOURCE_KEYS)})")
    npm = _string(where, table, "npm")
    match = NPM_RE.fullmatch(npm)
    if not match:
        raise AssetError(f"{where}.npm: malformed '{npm}' (want name@x.y.z, an exact version)")
    integrity = _string(where, table, "integrity")
    if not INTEGRITY_RE.fullmatch(integrity):
        raise AssetError(f"{where}.integrity: malformed '{integrity}' (want sha512-<base64>, npm's dist.integrity)")
    into = _relative(where, "into", table.get("into", name))
    if "path" in table and "files" in table:
        raise AssetError(f"{where}: give 'path' or 'files', not both")
    path = _relative(where, "path", table["path"]) if "path" in table else "."
    return Source(match["name"], match["version"], integrity, into, path, _files(where, table.get("files", {})))


def _string(where: str, table: dict, key: str) -> str:
    value = table.get(key)
    if not isinstance(value, str):
        raise AssetError(f"{where}.{key}: {'missing' if value is None else 'expected a string'}")
    return value


def _files(where: str, files: Any) -> tuple[tuple[str, str], ...]:
    if not isinstance(files, dict):
        raise AssetError(f"{where}.files: expected a table of \"place\" = \"path in the package\"")
    return tuple(sorted((_relative(f"{where}.files", k, k), _relative(f"{where}.files", k, v))
                        for k, v in files.items()))


def _relative(where: str, key: str, value: Any) -> str:
    """A path that stays inside the folder it is relative to."""
    if not isinstance(value, str):
        raise AssetError(f"{where}.{key}: expected a string")
    path = PurePosixPath(value)
    if not value or path.is_absolute() or ".." in path.parts or "\\" in value or str(path) == ".":
        raise AssetError(f"{where}.{key}: '{value}' is not a relative path inside the folder")
    return str(path)


# --- fetching ---------------------------------------------------------------------------


def fetch(source: Source, cache: Path) -> Path:
    """The source's npm tarball in ``cache``, its integrity checked (a cached one too)."""
    cache.mkdir(parents=True, exist_ok=True)
    target = cache / f"{source.package.replace('/', '+')}-{source.version}.tgz"
    if target.is_file() and _sri(target.read_bytes()) == source.integrity:
        return target
    with tempfile.NamedTemporaryFile(dir=cache, prefix=".fetch-", delete=False) as out:
        partial = Path(out.name)
        try:
            digest = _download(source.url, out)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
    if digest != source.integrity:
        partial.unlink()
        raise AssetError(f"{source.url}: integrity mismatch (got {digest}, pinned {source.integrity})")
    partial.chmod(0o644)  # a temporary file is private; the cache may be shared
    partial.replace(target)
    return target


def _download(url: str, out: BinaryIO) -> str:
    """Copy the URL into ``out``; the SRI sha512 of what was read."""
    digest = hashlib.sha512()
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            while chunk := response.read(1 << 20):
                digest.update(chunk)
                out.write(chunk)
    except (urllib.error.URLError, OSError) as exc:
        raise AssetError(f"{url} not reachable ({getattr(exc, 'reason', exc)})") from None
    return "sha512-" + base64.b64encode(digest.digest()).decode()


def _sri(data: bytes) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()


# --- laying out -------------------------------------------------------------------------


def layout(tree: Path, catalogue: Catalogue, cache: Path, dest: Path,
           options: Mapping[str, bool] | None = None) -> list[str]:
    """Place each item the tree needs (see :func:`needed`) under ``dest``, the folder given
    to ``cmake -B``; the names placed.

    Each item is assembled in a temporary folder inside ``dest`` and then renamed into
    place, its own name last, so an interrupted run leaves no item that CMake would
    take for complete.  An item already there is replaced.
    """
    names = needed(tree, options)
    missing = [name for name in names if name not in catalogue]
    if missing:
        raise AssetError(f"{catalogue.path}: no entry for {', '.join(missing)} (needed by {tree.name})")
    dest.mkdir(parents=True, exist_ok=True)
    for name in names:
        _place(catalogue[name], cache, dest)
    return names


def _place(asset: Asset, cache: Path, dest: Path) -> None:
    with tempfile.TemporaryDirectory(dir=dest, prefix=".web-assets-") as tmp:
        stage, unpacked = Path(tmp) / "stage", Path(tmp) / "unpacked"
        stage.mkdir()
        roots: dict[Path, Path] = {}
        for source in asset.sources:
            tarball = fetch(source, cache)
            if tarball not in roots:
                roots[tarball] = _unpack(tarball, unpacked / str(len(roots)))
            _copy(asset.name, source, roots[tarball], stage)
        tops = sorted({PurePosixPath(s.into).parts[0] for s in asset.sources}, key=lambda t: t == asset.name)
        for top in tops:
            _replace(stage / top, dest / top)


def _unpack(tarball: Path, target: Path) -> Path:
    """Extract an npm tarball safely, its top folder ("package/", or another name) dropped."""
    target.mkdir(parents=True)
    try:
        with tarfile.open(tarball) as tar:
            tar.extractall(target, filter=_strip_top)
    except (tarfile.TarError, OSError) as exc:
        raise AssetError(f"{tarball.name}: not a readable npm tarball ({exc})") from None
    return target


def _strip_top(member: tarfile.TarInfo, dest: str) -> tarfile.TarInfo | None:
    """tarfile's "data" filter, on names without their first component (as npm does)."""
    def strip(name: str) -> str:
        parts = PurePosixPath(name.lstrip("/")).parts
        return str(PurePosixPath(*parts[1:])) if len(parts) > 1 else ""
    name = strip(member.name)
    if not name:
        return None
    linkname = strip(member.linkname) if member.islnk() else member.linkname
    return tarfile.data_filter(member.replace(name=name, linkname=linkname, deep=False), dest)


def _copy(name: str, source: Source, root: Path, stage: Path) -> None:
    """Copy the source's files from the unpacked package into the staging folder."""
    into = stage / source.into
    pairs = [(into / place, path) for place, path in source.files] or [(into, source.path)]
    for target, path in pairs:
        origin = root / path
        if not origin.exists():
            raise AssetError(f"asset '{name}': {source.spec} has no '{path}'")
        if target.exists():
            raise AssetError(f"asset '{name}': {target.relative_to(stage)} is placed twice")
        target.parent.mkdir(parents=True, exist_ok=True)
        if origin.is_dir():
            shutil.copytree(origin, target)
        else:
            shutil.copy2(origin, target)


def _replace(new: Path, old: Path) -> None:
    if old.is_dir() and not old.is_symlink():
        shutil.rmtree(old)
    elif old.exists() or old.is_symlink():
        old.unlink()
    new.rename(old)
