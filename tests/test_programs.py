"""The external programs the tools and ./bootstrap start are the ones tools/provisioning/programs.py lists, and
each is either part of a minimal Debian or installed by provisioning (or ./bootstrap).

The code is read, not run: every call that starts a process (subprocess, os.system, os.exec*,
os.spawn*, asyncio's subprocesses, pty.spawn, shutil.which, and the tools' own wrappers around
them) is found, however the module imported it, and the program it starts is read from its argument
list.  A call whose program cannot be read, and a starter handed on without being called (``go =
subprocess.run``), must be named in INDIRECT with the function that builds its command, whose
programs are read instead.  tests/integration/test_fresh_machine.py
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
STARTERS = {("subprocess", name) for name in ("run", "Popen", "call", "check_call", "check_output", "getoutput",
                                              "getstatusoutput")} | \
    {("os", name) for name in ("system", "popen", "execv", "execve", "execvp", "execvpe", "execl", "execle", "execlp",
                               "execlpe", "posix_spawn", "posix_spawnp")} | \
    {("os", name) for name in ("spawnv", "spawnve", "spawnvp", "spawnvpe", "spawnl", "spawnle", "spawnlp",
                               "spawnlpe")} | \
    {("asyncio", "create_subprocess_exec"), ("asyncio", "create_subprocess_shell"), ("pty", "spawn"),
     ("shutil", "which")}
#: Starters whose first argument is not the program: os.spawn*(mode, program, ...).
SECOND_ARGUMENT = {name for module, name in STARTERS if name.startswith("spawn") and module == "os"}
#: Calls whose command comes from elsewhere: (module, function) -> (module, functions building it).
INDIRECT = {
    # run_one(..., commands, ...) runs commands[image] -> job_commands -> buildx.command
    ("commands/build", "run"): ("planning/buildx", ("command",)),
}


def _functions(tree: ast.AST, outer: dict | None = None):
    """Every function, with the parameters it sees: its own and those of the functions around it,
    each with the function it belongs to."""
    outer = outer or {}
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            params = {**outer, **{a.arg: node for a in _parameters(node) + node.args.kwonlyargs}}
            yield node, params
            yield from _functions(node, params)
        else:
            yield from _functions(node, outer)


def _parameters(function: ast.AST) -> list[ast.arg]:
    """The positional parameters a caller fills (a method's self or cls left out)."""
    params = function.args.posonlyargs + function.args.args
    return params[1:] if params and params[0].arg in ("self", "cls") else params


def _own_nodes(function: ast.AST):
    """The nodes of a function's body, not those of the functions defined in it."""
    stack = list(ast.iter_child_nodes(function))
    while stack:
        node = stack.pop()
        yield node
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            stack.extend(ast.iter_child_nodes(node))


def _callee(call: ast.Call) -> tuple[str, str] | str | None:
    """What a call calls as written: (name, attribute) for ``name.attribute(...)``, else a name, or None."""
    func = call.func
    if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
        return func.value.id, func.attr
    if isinstance(func, ast.Attribute):
        return func.attr
    if isinstance(func, ast.Name):
        return func.id
    return None


def _reference(node: ast.AST, imports: dict[str, str | tuple[str, str]], module: str) -> tuple[str, str] | None:
    """What a name refers to, as (module, name), the module by its last part: ``sp.run`` after
    ``import subprocess as sp`` is ("subprocess", "run"), ``self.run`` in tools/docker.py ("docker",
    "run"), a bare ``run`` defined or imported there the function it is; None for other expressions."""
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
        if node.value.id in ("self", "cls"):
            return module, node.attr
        target = imports.get(node.value.id, node.value.id)
        return (target.rsplit(".", 1)[-1] if isinstance(target, str) else node.value.id), node.attr
    if isinstance(node, ast.Name):
        target = imports.get(node.id)
        if isinstance(target, tuple):
            return target
        return module, node.id
    return None


def _imports(tree: ast.AST) -> dict[str, str | tuple[str, str]]:
    """A module's imports: a local name -> the module it is, or (module, name) of what it stands for."""
    found: dict[str, str | tuple[str, str]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                found[alias.asname or alias.name] = alias.name
        elif isinstance(node, ast.ImportFrom):
            for alias in node.names:
                if node.module:
                    found[alias.asname or alias.name] = (node.module.rsplit(".", 1)[-1], alias.name)
                else:  # from .. import docker: a module
                    found[alias.asname or alias.name] = alias.name
    return found


def _annotations(tree: ast.AST) -> set[int]:
    """The nodes of type annotations (``-> subprocess.Popen`` names a starter without calling it)."""
    roots = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.returns:
            roots.append(node.returns)
        elif isinstance(node, ast.arg) and node.annotation:
            roots.append(node.annotation)
        elif isinstance(node, ast.AnnAssign):
            roots.append(node.annotation)
    return {id(inner) for root in roots for inner in ast.walk(root)}


def _assigned_lists(function: ast.AST, name: str) -> list[ast.AST]:
    """The values assigned to ``name`` in a function (lists, or expressions that build one)."""
    values = []
    for node in _own_nodes(function):
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in node.targets):
            values.append(node.value)
    return values


def _heads(node: ast.AST, function: ast.AST, params: dict, seen=()) -> tuple[set[str], set[str], bool]:
    """Programs a command expression starts: (names, the parameters it comes from, unreadable)."""
    if isinstance(node, (ast.List, ast.Tuple)) and node.elts:
        first = node.elts[0]
        if isinstance(first, ast.Constant) and isinstance(first.value, str):
            return {first.value}, set(), False
        if ast.unparse(first) == "sys.executable":  # the tools' own Python
            return {"python3"}, set(), False
        if isinstance(first, ast.Starred):
            return _heads(first.value, function, params, seen)
        return set(), set(), True
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        words = node.value.split()  # shutil.which("hg"); os.system("hg clone ...")
        return ({words[0]}, set(), False) if words else (set(), set(), True)
    if isinstance(node, ast.Subscript):
        return _heads(node.value, function, params, seen)
    if isinstance(node, ast.BinOp):  # [..] + [..]
        return _heads(node.left, function, params, seen)
    if isinstance(node, ast.Name):
        if node.id in params:
            return set(), {node.id}, False
        values = _assigned_lists(function, node.id)
        if not values or node.id in seen:
            return set(), set(), True
        found, from_params, unreadable = set(), set(), False
        for value in values:
            names, param, lost = _heads(value, function, params, (*seen, node.id))
            found |= names
            from_params |= param
            unreadable |= lost
        return found, from_params, unreadable
    return set(), set(), True


def _module(path: Path) -> str:
    """A module's path under tools/ without .py (``planning/buildx``); its name when not under tools/."""
    try:
        return path.relative_to(ROOT / "tools").with_suffix("").as_posix()
    except ValueError:
        return path.stem


def _command(call: ast.Call, callee, wrappers: dict) -> ast.AST | None:
    """The argument that names the program: a starter's first (the second of os.spawn*) or ``args=``;
    a wrapper's at the place of the parameter it hands on, or by its name."""
    if callee in STARTERS:
        index = 1 if callee[1] in SECOND_ARGUMENT else 0
        names = ("args", "cmd", "command", "file", "path")
    else:
        index, name = wrappers[callee]
        names = (name,)
    if index is not None and len(call.args) > index and \
            not any(isinstance(a, ast.Starred) for a in call.args[:index + 1]):
        return call.args[index]
    return next((k.value for k in call.keywords if k.arg in names), None)


def scan(paths=TOOLS) -> tuple[dict[str, set[str]], list[str]]:
    """Programs started by the modules, with where; and the calls whose program cannot be read."""
    trees = {_module(path): ast.parse(path.read_text(), str(path)) for path in paths}
    #: (module, function) that hands a parameter on as the command -> (its place, its name)
    wrappers: dict[tuple[str, str], tuple[int | None, str]] = {}
    found: dict[str, set[str]] = {}
    unreadable: list[str] = []

    def lost_at(where: str, module: str, function_name: str) -> None:
        if (module, function_name) not in INDIRECT and where not in unreadable:
            unreadable.append(where)

    for _ in range(3):  # wrappers of wrappers
        for module, tree in trees.items():
            imports = _imports(tree)
            skipped = _annotations(tree)
            called = {id(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)}
            # The module's own statements (outside any function) count as a function without parameters.
            short = module.rsplit("/", 1)[-1]
            for function, params in [(tree, {}), *_functions(tree)]:
                name = getattr(function, "name", "<module>")
                for node in _own_nodes(function):
                    where = f"tools/{module}.py:{getattr(node, 'lineno', 0)} ({name})"
                    if isinstance(node, (ast.Attribute, ast.Name)) and id(node) not in called \
                            and id(node) not in skipped and _reference(node, imports, short) in STARTERS:
                        lost_at(where, module, name)  # handed on, not called: its calls cannot be read
                        continue
                    if not isinstance(node, ast.Call):
                        continue
                    callee = _reference(node.func, imports, short)
                    if callee not in STARTERS and callee not in wrappers:
                        continue
                    command = _command(node, callee, wrappers)
                    if command is None:
                        lost_at(where, module, name)
                        continue
                    names, from_params, lost = _heads(command, function, params)
                    for param in from_params:  # the function that has the parameter hands it on
                        owner = params[param]
                        positional = [a.arg for a in _parameters(owner)]
                        wrappers[(short, owner.name)] = (positional.index(param) if param in positional
                                                         else None, param)
                    for program in names:
                        found.setdefault(program, set()).add(where)
                    if lost:
                        lost_at(where, module, name)
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
        commands += re.findall(r"\$\(([^()]*)\)", line) + re.findall(r"`([^`]*)`", line)
        commands += [script for _, script in re.findall(r"\bsh\s+-c\s+(['\"])(.*?)\1", line)]
        commands.append(re.sub(r"`[^`]*`", "x", re.sub(r"\$\([^()]*\)", "x", line)))
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


#: Ways a module could start ``curl``: each must be found, or reported as unreadable.
NEW_PROGRAM = {
    "a list": "import subprocess\ndef f():\n    subprocess.run(['curl', 'x'])\n",
    "an imported name": "from subprocess import run\ndef f():\n    run(['curl', 'x'])\n",
    "an imported name, renamed": "from subprocess import check_output as go\ndef f():\n    go(['curl', 'x'])\n",
    "a renamed module": "import subprocess as sp\ndef f():\n    sp.Popen(['curl', 'x'])\n",
    "os.system": "import os\ndef f():\n    os.system('curl -s x | tar x')\n",
    "os.popen": "import os\ndef f():\n    return os.popen('curl x').read()\n",
    "os.execvp": "import os\ndef f():\n    os.execvp('curl', ['curl', 'x'])\n",
    "os.spawnvp": "import os\ndef f():\n    os.spawnvp(os.P_WAIT, 'curl', ['curl', 'x'])\n",
    "asyncio": "import asyncio\nasync def f():\n    await asyncio.create_subprocess_exec('curl', 'x')\n",
    "a shell string": "import subprocess\ndef f():\n    subprocess.run('curl x', shell=True)\n",
    "getoutput": "import subprocess\ndef f():\n    return subprocess.getoutput('curl x')\n",
    "the module's own statements": "import subprocess\nsubprocess.run(['curl', 'x'])\n",
    "a lambda": "import subprocess\nfetch = lambda: subprocess.run(['curl', 'x'])\n",
    "a keyword argument": "import subprocess\ndef f():\n    subprocess.run(args=['curl', 'x'])\n",
    "a method wrapping it": ("import subprocess\nclass A:\n    def _run(self, cmd):\n        return subprocess.run(cmd)\n"
                             "    def f(self):\n        self._run(['curl', 'x'])\n"),
    "an f-string": "import subprocess\ndef f(url):\n    subprocess.run(f'curl {url}', shell=True)\n",
    "a list built elsewhere": "import subprocess\nCURL = ['curl', 'x']\ndef f():\n    subprocess.run(CURL)\n",
    "shlex.split": "import shlex, subprocess\ndef f():\n    subprocess.run(shlex.split('curl x'))\n",
    "a starter handed on": "import subprocess\ndef f():\n    go = subprocess.run\n    go(['curl', 'x'])\n",
    "a wrapper whose command comes second": ("import subprocess\ndef go(log, cmd):\n    subprocess.run(cmd)\n"
                                             "def f():\n    go('x.log', ['curl', 'x'])\n"),
    "a wrapper given the command by name": ("import subprocess\ndef go(log, *, cmd):\n    subprocess.run(cmd)\n"
                                            "def f():\n    go('x.log', cmd=['curl', 'x'])\n"),
    "a wrapper's inner function": ("import subprocess\ndef go(cmd):\n    def inner():\n        subprocess.run(cmd)\n"
                                   "    inner()\ndef f():\n    go(['curl', 'x'])\n"),
    "a starter in a partial": ("import functools, subprocess\n"
                               "def f():\n    functools.partial(subprocess.run, check=True)(['curl', 'x'])\n"),
}


@pytest.mark.parametrize("source", NEW_PROGRAM.values(), ids=NEW_PROGRAM.keys())
def test_a_new_program_is_noticed_however_it_is_started(tmp_path, source):
    sample = tmp_path / "sample.py"
    sample.write_text(source)
    found, unreadable = scan([sample])
    assert "curl" in found or unreadable, (found, unreadable)
    assert set(found) <= {"curl"}


def test_wrappers_are_followed_across_modules_by_what_they_are(tmp_path):
    (tmp_path / "door.py").write_text("import subprocess\ndef run(cmd):\n    return subprocess.run(cmd)\n")
    (tmp_path / "user.py").write_text(
        "from . import door\nfrom .door import run as go\nfrom . import report\n"
        "def f():\n    door.run(['curl', 'x'])\n    go(['wget', 'x'])\n"
        "    report.run(['not', 'a', 'program'])\n")  # another module's run: no program
    (tmp_path / "report.py").write_text("def run(rows):\n    return rows\n")
    found, unreadable = scan(sorted(tmp_path.glob("*.py")))
    assert set(found) == {"curl", "wget"} and unreadable == []


def test_annotations_naming_a_starter_are_not_calls(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("from __future__ import annotations\nimport subprocess\n"
                      "def f(p: subprocess.Popen) -> subprocess.Popen:\n    procs: list[subprocess.Popen] = []\n"
                      "    return p\n")
    assert scan([sample]) == ({}, [])


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
              'command -v quux >/dev/null || exec corge\n# grault\nY=`garply -n`\nsh -c \'waldo x; fred\'\n')
    assert shell_programs(script) == {"foo", "id", "bar", "baz", "corge", "garply", "sh", "waldo", "fred"}


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
                    path.name in ("provision.py", "release_sets.py", "requirements.py"), f"{path}:{node.lineno}"
