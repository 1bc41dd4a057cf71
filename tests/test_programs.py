"""The external programs the tools and ./bootstrap start are the ones tools/provisioning/programs.py lists, and
each is either part of a minimal Debian or installed by provisioning (or ./bootstrap).

The code is read, not run: every call that starts a process (subprocess, os.exec*, shutil.which,
and the tools' own wrappers around them) is found, and the program it starts is read from its
argument list.  A call whose program cannot be read must be named in INDIRECT with the function
that builds its command, whose programs are read instead.  tests/integration/test_fresh_machine.py
checks the other half in a real minimal Debian: the minimal programs are there, and each package
ships its program.
"""

from __future__ import annotations

import ast
import re
import shlex
from pathlib import Path

import pytest

from tools.provisioning import programs, provision

ROOT = Path(__file__).resolve().parent.parent
TOOLS = sorted((ROOT / "tools").rglob("*.py"))
STARTERS = {("subprocess", name) for name in ("run", "Popen", "call", "check_call", "check_output")} | \
    {("os", name) for name in ("execv", "execvp", "execvpe", "execl", "execlp", "spawnv", "spawnvp")} | \
    {("shutil", "which")}
#: Calls whose command comes from elsewhere: (module, function) -> (module, functions building it).
INDIRECT = {
    ("commands/build", "run_one"): ("planning/buildx", ("command",)),  # runner.run(commands[image]) -> buildx.command
}


def _functions(tree: ast.AST, outer: frozenset = frozenset()):
    """Every function, with the parameters it sees (its own and those of the functions around it)."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            params = outer | {a.arg for a in node.args.args + node.args.kwonlyargs}
            yield node, params
            yield from _functions(node, params)
        else:
            yield from _functions(node, outer)


def _own_nodes(function: ast.AST):
    """The nodes of a function's body, not those of the functions defined in it."""
    stack = list(ast.iter_child_nodes(function))
    while stack:
        node = stack.pop()
        yield node
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            stack.extend(ast.iter_child_nodes(node))


def _callee(call: ast.Call) -> tuple[str, str] | str | None:
    func = call.func
    if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
        return func.value.id, func.attr
    if isinstance(func, ast.Attribute):
        return func.attr
    if isinstance(func, ast.Name):
        return func.id
    return None


def _assigned_lists(function: ast.AST, name: str) -> list[ast.AST]:
    """The values assigned to ``name`` in a function (lists, or expressions that build one)."""
    values = []
    for node in _own_nodes(function):
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in node.targets):
            values.append(node.value)
    return values


def _heads(node: ast.AST, function: ast.AST, params: set[str], seen=()) -> tuple[set[str], bool, bool]:
    """Programs a command expression starts: (names, comes from a parameter, unreadable)."""
    if isinstance(node, (ast.List, ast.Tuple)) and node.elts:
        first = node.elts[0]
        if isinstance(first, ast.Constant) and isinstance(first.value, str):
            return {first.value}, False, False
        if isinstance(first, ast.Starred):
            return _heads(first.value, function, params, seen)
        return set(), False, True
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return {node.value}, False, False  # shutil.which("hg")
    if isinstance(node, ast.Subscript):
        return _heads(node.value, function, params, seen)
    if isinstance(node, ast.BinOp):  # [..] + [..]
        return _heads(node.left, function, params, seen)
    if isinstance(node, ast.Name):
        if node.id in params:
            return set(), True, False
        values = _assigned_lists(function, node.id)
        if not values or node.id in seen:
            return set(), False, True
        found, from_param, unreadable = set(), False, False
        for value in values:
            names, param, lost = _heads(value, function, params, (*seen, node.id))
            found |= names
            from_param |= param
            unreadable |= lost
        return found, from_param, unreadable
    return set(), False, True


def _module(path: Path) -> str:
    """A module's path under tools/ without .py (``planning/buildx``); its name when not under tools/."""
    try:
        return path.relative_to(ROOT / "tools").with_suffix("").as_posix()
    except ValueError:
        return path.stem


def scan(paths=TOOLS) -> tuple[dict[str, set[str]], list[str]]:
    """Programs started by the modules, with where; and the calls whose program cannot be read."""
    trees = {_module(path): ast.parse(path.read_text(), str(path)) for path in paths}
    names = {module.rsplit("/", 1)[-1] for module in trees}
    wrappers: set[str] = set()  # functions that pass a parameter on as the command
    found: dict[str, set[str]] = {}
    unreadable: list[str] = []
    for _ in range(3):  # wrappers of wrappers
        for module, tree in trees.items():
            for function, params in _functions(tree):
                for call in (n for n in _own_nodes(function) if isinstance(n, ast.Call)):
                    callee = _callee(call)
                    starts = callee in STARTERS or (isinstance(callee, str) and callee in wrappers) or \
                        (isinstance(callee, tuple) and callee[1] in wrappers and callee[0] in names)
                    if not starts or not call.args:
                        continue
                    names, from_param, lost = _heads(call.args[0], function, params)
                    if from_param:
                        wrappers.add(function.name)
                    where = f"tools/{module}.py:{call.lineno} ({function.name})"
                    for name in names:
                        found.setdefault(name, set()).add(where)
                    if lost and (module, function.name) not in INDIRECT and where not in unreadable:
                        unreadable.append(where)
    for (module, _), (builder_module, builders) in INDIRECT.items():
        if builder_module not in trees:
            continue
        for function, _ in _functions(trees[builder_module]):
            if function.name in builders:
                for node in ast.walk(function):  # the lists it starts a command with: cmd = ["docker", ...]
                    value = node.value if isinstance(node, ast.Assign) else None
                    if isinstance(value, ast.List) and value.elts and isinstance(value.elts[0], ast.Constant) \
                            and isinstance(value.elts[0].value, str):
                        found.setdefault(value.elts[0].value, set()).add(
                            f"tools/{builder_module}.py:{node.lineno} ({function.name}, for {module})")
    return found, unreadable


SH_KEYWORDS = {"if", "then", "else", "elif", "fi", "do", "done", "while", "until", "for", "case", "esac", "in",
               "!", "{", "}"}
SH_BUILTINS = {"cd", "set", "echo", "exit", "[", "test", "export", "return", "shift", "local", "printf", "read",
               "true", "false", ":", ".", "trap", "unset", "wait", "umask"}
SH_PREFIXES = {"exec", "command"}  # the next word is the command, unless it is an option


def shell_programs(text: str) -> set[str]:
    """The programs a POSIX shell script starts (first words of its commands, its $(...) included)."""
    text = re.sub(r"\\\n", " ", text)
    functions = set(re.findall(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*\(\)", text, re.M))
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    commands = []
    for line in lines:
        line = re.sub(r"""\d*(>>|>&|<&|>|<)(&?\d+|\s*"[^"]*"|\s*\S+)""", " ", line)  # redirections
        commands += re.findall(r"\$\(([^()]*)\)", line)
        commands.append(re.sub(r"\$\([^()]*\)", "x", line))
    found = set()
    for command in commands:
        lexer = shlex.shlex(command, posix=True, punctuation_chars=";&|()<>")
        lexer.whitespace_split = True
        lexer.commenters = ""
        at_start = True
        for token in lexer:
            if token in (";", "&&", "||", "|", "(", ")", "&"):
                at_start = True
                continue
            if not at_start:
                continue
            if token in SH_KEYWORDS or re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", token):
                continue
            if token in SH_PREFIXES:
                continue
            at_start = False
            if token.startswith("-") or token in SH_BUILTINS or token in functions or token.endswith("()"):
                continue
            if "/" in token or "$" in token:
                continue  # a path, such as the virtual environment's own python
            found.add(token)
    return found


def bootstrap_packages() -> set[str]:
    """The packages ./bootstrap installs with apt-get."""
    text = re.sub(r"\\\n", " ", (ROOT / "bootstrap").read_text())
    found = set()
    for match in re.finditer(r"apt-get install ([^;}|&]*)", text):
        found |= {word for word in match.group(1).split() if not word.startswith("-")}
    return found


def test_the_scanner_finds_programs_behind_wrappers_and_lists(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import shutil, subprocess\n"
        "def _run(cmd):\n    return subprocess.run(cmd)\n"
        "def fetch():\n    _run(['hg', 'clone'])\n    shutil.which('dpkg-source')\n"
        "def build():\n    cmd = ['docker', 'build']\n    cmd = ['docker', '--context', 'x'] + cmd[1:]\n"
        "    subprocess.Popen(cmd)\n"
        "def simulate(cmd):\n    subprocess.run([*cmd[:2], '-s'])\n"
        "def apt():\n    simulate(['apt-get', 'install'])\n"
        "def mystery(things):\n    subprocess.run(things.pop())\n")
    found, unreadable = scan([sample])
    assert set(found) == {"hg", "dpkg-source", "docker", "apt-get"}
    assert unreadable == ["tools/sample.py:16 (mystery)"]


def test_every_program_the_tools_start_is_listed():
    found, unreadable = scan()
    assert unreadable == [], "calls whose program cannot be read: add them to INDIRECT"
    unlisted = {name: sorted(where) for name, where in found.items() if name not in programs.BY_NAME}
    assert unlisted == {}, "programs the tools start that tools/provisioning/programs.py does not list"
    assert {"docker", "git", "hg", "debootstrap", "dpkg-source", "apt-get", "update-binfmts"} <= set(found)


def test_every_program_bootstrap_starts_is_listed():
    found = shell_programs((ROOT / "bootstrap").read_text())
    assert {"python3", "apt-get", "cmp"} <= found
    assert found - set(programs.BY_NAME) == set()


def test_the_shell_reader():
    script = ('#!/bin/sh\nset -eu\nf() {\n  echo hi\n}\nif ! foo -q 2>/dev/null; then\n'
              '  [ "$(id -u)" = 0 ] || f "x"\n  X=1 bar --y | baz && exec "$V/python" -m qux\nfi\n'
              'command -v quux >/dev/null || exec corge\n# grault\n')
    assert shell_programs(script) == {"foo", "id", "bar", "baz", "corge"}


@pytest.mark.parametrize("program", programs.PROGRAMS, ids=[p.name for p in programs.PROGRAMS])
def test_every_listed_program_is_minimal_or_installed(program):
    if program.package == programs.MINIMAL:
        assert program.step == ""
    elif program.step == "bootstrap":
        assert program.package in bootstrap_packages()
    else:
        assert program.step in provision.APT_STEPS, f"no provisioning step '{program.step}'"
        assert program.package in provision.APT_STEPS[program.step]


def test_every_listed_program_is_started_somewhere():
    found, _ = scan()
    used = set(found) | shell_programs((ROOT / "bootstrap").read_text())
    assert {p.name for p in programs.PROGRAMS} - used == {"sh"}  # the interpreter of ./bootstrap


def test_docker_comes_from_trixie_on_bookworm_only():
    assert provision.docker_packages("bookworm") == ["docker-cli/trixie", "docker.io/trixie", "docker-buildx/trixie"]
    assert provision.docker_packages("trixie") == ["docker-cli", "docker.io", "docker-buildx"]
    assert provision.host_suite('PRETTY_NAME="Debian GNU/Linux 13 (trixie)"\nVERSION_CODENAME=trixie\n') == "trixie"


def test_docker_is_started_through_its_one_door():
    found, _ = scan()
    where = {place.split(":")[0] for place in found["docker"]}
    # tools/docker.py runs them; buildx renders the build command that the runner streams through it;
    # provisioning's logged runner hands its docker steps to it.
    assert where <= {"tools/docker.py", "tools/planning/buildx.py", "tools/provisioning/provision.py"}, where
    assert "docker.stream(cmd)" in (ROOT / "tools" / "running" / "runner.py").read_text()
    assert "docker.execute(cmd" in (ROOT / "tools" / "provisioning" / "provision.py").read_text()


def test_no_command_enters_the_command_line_again():
    """Commands call each other with typed requests, never with an argv for a ``main``."""
    for path in TOOLS:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and _callee(node) in (("cli", "main"), "main", ("cli", "dispatch")):
                assert path.name == "__main__.py" or path.parent.name == "tools" and \
                    path.name in ("provision.py", "release_sets.py"), f"{path}:{node.lineno}"
