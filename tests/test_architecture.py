"""The house's floors, checked on the source (STYLE.md "The house").

An app imports only from the floors strictly below it, and from itself; apps on one floor do not import
each other; the app-level import graph has no cycle. No app imports the wiring (`config`) or the launcher
(`devstack`): settings are read through `django.conf.settings`, and only `config/settings/` reads the
environment. Every `import` and `from ... import` counts, at module level or inside a function or an
`if TYPE_CHECKING:`, as do `importlib.import_module("...")` with a literal name and lazy model
references (`ForeignKey("app.Model")`): a layering that holds only at import time is no layering.

The checks are pure `ast` over the files, with no Django app loaded and no database: a fraction of a second.
"""

import ast
from collections import defaultdict
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Each app and its floor. A new top-level package must be given a floor here (or be listed as outside
# the floors below) before anything else in this file will pass.
FLOORS = {
    "core": 1,
    "governance": 2,
    "memory": 2,
    "operations": 2,
    "emma": 3,
    "integrations": 4,
    # Beside integrations: drafts reach the outbox and GitHub through integrations' ports (core.registries.port).
    "drafting": 4,
}

# Top-level packages that are not apps, and why no app may import them.
OUTSIDE_THE_FLOORS = {
    "config": "the wiring on top: apps read settings through django.conf.settings, never config.settings",
    "devstack": "the launcher behind make run / make test / make bench; it starts the apps, not the reverse",
    "bench": "benchmarks drive the apps from outside",
    "tests": "the tests drive the apps from outside",
}

# Files (or folders, ending in "/") outside config/settings/ that may touch the environment, and why.
# Anything else reads a setting through django.conf.settings, declared once in config/settings/base.py.
ENVIRONMENT_ALLOWED = {
    "manage.py": "sets DJANGO_SETTINGS_MODULE's default before Django starts (setdefault)",
    "config/wsgi.py": "sets DJANGO_SETTINGS_MODULE's default before Django starts (setdefault)",
    "config/asgi.py": "sets DJANGO_SETTINGS_MODULE's default before Django starts (setdefault)",
    "config/celery_app.py": "sets DJANGO_SETTINGS_MODULE's default before Celery loads Django (setdefault)",
    "config/gunicorn.py": "gunicorn reads its own config file before any Django settings exist",
    "devstack/": "the launcher: it builds the environment that settings then read",
    "tests/": "outside the floors: tests pin the environment of the child processes they start",
    "bench/": "outside the floors: benchmarks configure the stacks they start",
    "operations/pg.py": "hands this process's environment (PATH, PG* variables) to pg_dump / pg_restore;"
                        " reads no setting from it",
}
SETTINGS_PACKAGE = "config/settings/"

SKIPPED_FOLDERS = {"migrations", "__pycache__"}
NOT_PACKAGES = {".venv", ".git", ".emma", "node_modules", "staticfiles", "docs", "docker", "requirements"}


@dataclass(frozen=True)
class Dependency:
    path: str  # relative to ROOT, with "/"
    line: int
    module: str  # the dotted name imported, or "app_label.Model" for a lazy model reference
    how: str  # "imports" or "references model"

    @property
    def top(self) -> str:
        return self.module.split(".")[0]

    def __str__(self) -> str:
        return f"{self.path}:{self.line} {self.how} {self.module}"


def python_files(folder: Path, skip=SKIPPED_FOLDERS):
    for path in sorted(folder.rglob("*.py")):
        if not skip.intersection(path.relative_to(folder).parts[:-1]):
            yield path


@cache
def parsed(path: Path) -> ast.Module:
    return ast.parse(path.read_bytes(), filename=str(path))


def module_name(root: Path, path: Path) -> tuple[str, ...]:
    parts = path.relative_to(root).with_suffix("").parts
    return parts[:-1] if parts[-1] == "__init__" else parts


def package_of(root: Path, path: Path) -> tuple[str, ...]:
    name = module_name(root, path)
    return name if path.name == "__init__.py" else name[:-1]


def resolve_relative(root: Path, path: Path, level: int, module: str | None) -> str:
    package = package_of(root, path)
    if level - 1 > len(package) or level - 1 == len(package) and not module:
        raise AssertionError(f"{path.relative_to(root)}: relative import beyond the top-level package")
    base = package[: len(package) - (level - 1)]
    return ".".join((*base, *(module.split(".") if module else ())))


def literal_prefix(node: ast.expr) -> str | None:
    """The constant text a module name starts with: "a.b" for "a.b", "a." for f"a.{x}"."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr) and node.values and isinstance(node.values[0], ast.Constant):
        return node.values[0].value
    return None


MODEL_FIELDS = {"ForeignKey", "OneToOneField", "ManyToManyField"}
DYNAMIC_IMPORTS = {"import_module", "import_string", "__import__"}


def dependencies_of(root: Path, path: Path) -> list[Dependency]:
    relative = path.relative_to(root).as_posix()
    found = []
    for node in ast.walk(parsed(path)):
        if isinstance(node, ast.Import):
            found += [Dependency(relative, node.lineno, alias.name, "imports") for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            # `from a.b import c` is named a.b.c (c is a module of a.b or a name in it): the message then
            # says exactly what is imported.
            base = resolve_relative(root, path, node.level, node.module) if node.level else node.module
            found += [Dependency(relative, node.lineno, base if alias.name == "*" else f"{base}.{alias.name}",
                                 "imports") for alias in node.names]
        elif isinstance(node, ast.Call):
            function = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", None)
            if function in DYNAMIC_IMPORTS and node.args:
                name = literal_prefix(node.args[0])
                if name and not name.startswith("."):
                    found.append(Dependency(relative, node.lineno, name.rstrip("."), "imports"))
            elif function in MODEL_FIELDS:
                target = node.args[0] if node.args else next((k.value for k in node.keywords if k.arg == "to"), None)
                label = literal_prefix(target) if target is not None else None
                if label and "." in label:
                    found.append(Dependency(relative, node.lineno, label, "references model"))
    return found


def top_level_packages(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir()
                  if p.is_dir() and (p / "__init__.py").exists() and p.name not in NOT_PACKAGES)


@cache
def app_dependencies(root: Path = ROOT) -> tuple[Dependency, ...]:
    """Every import of every app module (migrations aside), in file and line order."""
    found = []
    for app in FLOORS:
        if (root / app).is_dir():
            for path in python_files(root / app):
                found += dependencies_of(root, path)
    return tuple(found)


def app_of(dependency: Dependency) -> str:
    return dependency.path.split("/")[0]


def floor_violations(root: Path = ROOT) -> list[str]:
    offenders = []
    for dependency in app_dependencies(root):
        importer, imported = app_of(dependency), dependency.top
        if imported in FLOORS and imported != importer and FLOORS[importer] <= FLOORS[imported]:
            direction = "sideways" if FLOORS[importer] == FLOORS[imported] else "upward"
            offenders.append(f"{dependency}  ({direction}: {importer} is on floor {FLOORS[importer]},"
                             f" {imported} on floor {FLOORS[imported]})")
    return offenders


def app_graph(root: Path = ROOT) -> dict[str, dict[str, Dependency]]:
    """app -> {app it depends on -> the first place it does so}."""
    graph = defaultdict(dict)
    for dependency in app_dependencies(root):
        importer, imported = app_of(dependency), dependency.top
        if imported in FLOORS and imported != importer:
            graph[importer].setdefault(imported, dependency)
    return graph


def import_cycles(graph: dict[str, dict[str, Dependency]]) -> list[list[str]]:
    """Each cycle found by a depth-first walk, as the list of apps around it (first app repeated last)."""
    cycles, state, stack = [], {}, []  # state: 1 while on the current path, 2 once fully explored

    def visit(app):
        state[app] = 1
        stack.append(app)
        for imported in sorted(graph.get(app, {})):
            if state.get(imported) == 1:
                cycles.append([*stack[stack.index(imported):], imported])
            elif imported not in state:
                visit(imported)
        stack.pop()
        state[app] = 2

    for app in sorted(graph):
        if app not in state:
            visit(app)
    return cycles


def wiring_imports(root: Path = ROOT) -> list[str]:
    return [f"{dependency}  ({dependency.top}: {OUTSIDE_THE_FLOORS[dependency.top]})"
            for dependency in app_dependencies(root) if dependency.top in OUTSIDE_THE_FLOORS]


ENVIRONMENT_ATTRIBUTES = {"environ", "environb", "getenv", "getenvb", "putenv", "unsetenv"}


def environment_reads(path: Path) -> list[tuple[int, str]]:
    """(line number, line) of each touch of the process environment: os.environ / os.getenv (under any
    alias), names imported from os for it, and django-environ (`import environ`, `environ.Env`)."""
    tree = parsed(path)
    os_names, os_members, environ_package = set(), set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "os" or alias.name.startswith("os."):
                    os_names.add(alias.asname or "os")
                elif alias.name == "environ":
                    environ_package.add(alias.asname or "environ")
        elif isinstance(node, ast.ImportFrom) and not node.level:
            for alias in node.names:
                if node.module == "os" and alias.name in ENVIRONMENT_ATTRIBUTES:
                    os_members.add(alias.asname or alias.name)
    reads = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            if node.value.id in os_names and node.attr in ENVIRONMENT_ATTRIBUTES:
                reads.append(node)
            elif node.value.id in environ_package:
                reads.append(node)
        elif isinstance(node, ast.Name) and node.id in os_members:
            reads.append(node)
        elif isinstance(node, ast.Import) and any(alias.name == "environ" for alias in node.names):
            reads.append(node)
        elif isinstance(node, ast.ImportFrom) and node.module == "environ" and not node.level:
            reads.append(node)
    lines = path.read_text().splitlines()
    return [(number, lines[number - 1].strip()) for number in sorted({node.lineno for node in reads})]


def environment_allowance(relative: str) -> str | None:
    for allowed, reason in ENVIRONMENT_ALLOWED.items():
        if relative == allowed or allowed.endswith("/") and relative.startswith(allowed):
            return reason
    return None


def environment_offenders(root: Path = ROOT) -> tuple[list[str], list[str]]:
    """(offending reads, allow-list entries for existing files that no longer touch the environment)."""
    offenders, stale = [], []
    files = sorted(root.glob("*.py"))
    for package in top_level_packages(root):
        if environment_allowance(f"{package}/") is None:  # a folder allowed whole is not even read
            files += python_files(root / package, skip={"__pycache__"})
    for path in files:
        relative = path.relative_to(root).as_posix()
        if relative.startswith(SETTINGS_PACKAGE):
            continue
        reads = environment_reads(path)
        if environment_allowance(relative) is None:
            offenders += [f"{relative}:{number}  {line}" for number, line in reads]
        elif not reads:
            stale.append(relative)
    return offenders, stale


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    """Overrides the suite's Redis clean-up: these tests read source files and touch no service."""
    yield


def bulleted(lines) -> str:
    return "".join(f"\n  {line}" for line in lines)


def test_every_top_level_package_has_a_floor_or_is_outside_the_floors():
    unplaced = [p for p in top_level_packages(ROOT) if p not in FLOORS and p not in OUTSIDE_THE_FLOORS]
    assert not unplaced, (
        f"Top-level packages with no floor: {unplaced}. Give each a floor in FLOORS in {Path(__file__).name}"
        f" (and STYLE.md \"The house\"), or list it in OUTSIDE_THE_FLOORS with the reason.")


def test_the_walk_sees_the_apps_and_their_imports():
    """Guards the checks below against passing vacuously (a wrong root, a walk that finds nothing)."""
    dependencies = app_dependencies()
    assert {"core", "governance", "memory", "emma", "integrations"} <= {app_of(d) for d in dependencies}
    assert any(d.top == "core" and app_of(d) == "emma" for d in dependencies)


def test_apps_import_only_from_floors_below_them():
    offenders = floor_violations()
    assert not offenders, (
        f"{len(offenders)} upward or sideways import(s); an app imports only from the floors below it"
        f" (core 1; governance, memory, operations 2; emma 3; integrations, drafting 4):{bulleted(offenders)}\n"
        "Fix: move what both need down to the lower floor (core holds the registries), pass ids instead of"
        " models, or let the higher floor register a hook in its AppConfig.ready that the lower floor calls"
        " (e.g. on_escalation_closed). See STYLE.md \"The house\".")


def test_app_import_graph_has_no_cycle():
    graph = app_graph()
    cycles = import_cycles(graph)
    described = [" -> ".join(cycle) + "".join(f"\n      {graph[a][b]}" for a, b in zip(cycle, cycle[1:]))
                 for cycle in cycles]
    assert not cycles, (
        f"Import cycle(s) between apps, with one import per step:{bulleted(described)}\n"
        "Fix: break the edge that points up a floor (see test_apps_import_only_from_floors_below_them).")


def test_the_checks_catch_what_they_are_meant_to_catch(tmp_path):
    """The checks above, run on a small tree with one offence of each kind, whatever the real tree holds."""
    files = {
        "core/a.py": "def later():\n    from emma import models\n",
        "governance/b.py": ("import importlib\nfrom typing import TYPE_CHECKING\nfrom django.db import models\n"
                            "if TYPE_CHECKING:\n    import memory.models\n"
                            "provider = importlib.import_module(f'integrations.{1}.inbound')\n"
                            "task = models.ForeignKey('emma.AgentTask', on_delete=models.CASCADE)\n"
                            "from . import c\n"),
        "governance/c.py": "",
        "memory/c.py": ("import os as system\nfrom os import getenv as read\nfrom config import embedded\n"
                        "level = system.environ.get('LEVEL')\nname = read('NAME')\n"),
        "emma/d.py": "from core import a\nfrom governance import b\nimport memory\n",
        "emma/migrations/0001_initial.py": "from integrations import models\n",
    }
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        (path.parent / "__init__.py").touch()
        path.write_text(text)

    assert [v.split("  (")[0] for v in floor_violations(tmp_path)] == [
        "core/a.py:2 imports emma.models",
        "governance/b.py:5 imports memory.models",
        "governance/b.py:6 imports integrations",
        "governance/b.py:7 references model emma.AgentTask",
    ]
    assert import_cycles(app_graph(tmp_path)) == [["core", "emma", "core"], ["emma", "governance", "emma"]]
    assert [v.split("  (")[0] for v in wiring_imports(tmp_path)] == ["memory/c.py:3 imports config.embedded"]
    assert environment_offenders(tmp_path)[0] == [
        "memory/c.py:4  level = system.environ.get('LEVEL')", "memory/c.py:5  name = read('NAME')"]


def test_apps_do_not_import_the_wiring_or_the_launcher():
    offenders = wiring_imports()
    assert not offenders, (
        f"App modules importing what is outside the floors:{bulleted(offenders)}\n"
        "Fix: read settings via `from django.conf import settings`; what the launcher and the app share"
        " belongs in core.")


def test_only_settings_read_the_environment():
    offenders, stale = environment_offenders()
    assert not offenders, (
        f"Modules outside {SETTINGS_PACKAGE} touching the environment:{bulleted(offenders)}\n"
        "Fix: declare the setting once in config/settings/base.py with a typed read (env.bool, env.int, ...)"
        " and read django.conf.settings.NAME; a launcher or entry point that really must, goes in"
        f" ENVIRONMENT_ALLOWED in {Path(__file__).name} with the reason.")
    assert not stale, f"ENVIRONMENT_ALLOWED entries no longer needed (remove them): {stale}"
