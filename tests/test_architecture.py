"""The direction of imports (docs/architecture.md), read from the source with `ast`: nothing is imported to check.

Every app module has a layer: core (pure rules and vocabularies) -> database (tables, engine, migrations) ->
services (take a session, do one job) -> entry points (gateway, action server, portal, CLI, scripts). A module
imports its own layer or lower ones, never a higher one; `bot/` and `actions/` never import each other; no app
module, script or benchmark imports `tests/`. And nothing opens a database, reads a file or starts a client when
it is imported. Lazy imports inside functions count like the ones at the top.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from referrals.config import ROOT

LAYERS = ("core", "database", "services", "entry")

# Every app module and its layer. A new module goes here too (test_every_module_has_a_layer says so).
MODULE_LAYER: dict[str, str] = {
    # core: pure rules, vocabularies and texts; no database, no I/O when imported
    "referrals": "core",
    "referrals.config": "core",
    "referrals.needs": "core",
    "referrals.topics": "core",
    "referrals.language": "core",
    "referrals.translations": "core",
    "referrals.directory": "core",
    "referrals.hsds_feed": "core",
    "referrals.need_mapping": "core",
    "referrals.matching": "core",
    "referrals.vault": "core",
    "referrals.reports": "core",
    "referrals.reports.calendar": "core",
    "referrals.reports.dimensions": "core",
    "referrals.reports.suppression": "core",
    "referrals.reports.assemble": "core",
    "referrals.reports.render": "core",
    "referrals.reports.html": "core",
    # database: every table, the engine and session factory, the migrations
    "referrals.models": "database",
    "referrals.db": "database",
    "referrals.deadline": "database",
    "referrals.migrations.env": "database",
    # services: each takes a session (or a session factory) and does one job
    "referrals.intake": "services",
    "referrals.residents": "services",
    "referrals.privacy": "services",
    "referrals.callbacks": "services",
    "referrals.live": "services",
    "referrals.case_texts": "services",
    "referrals.response_due": "services",
    "referrals.accounts": "services",
    "referrals.cases": "services",
    "referrals.outbound": "services",
    "referrals.followups": "services",
    "referrals.keys": "services",
    "referrals.sample_data": "services",
    "referrals.store": "services",
    "referrals.reports.counting": "services",
    "referrals.reports.attack": "services",
    "referrals.reports.opendata": "services",
    "referrals.reports.releases": "services",
    # entry points: what a process starts with
    "referrals.__main__": "entry",
    "referrals.cli": "entry",
    "referrals.cli.directory": "entry",
    "referrals.cli.followups": "entry",
    "referrals.cli.keys": "entry",
    "referrals.cli.report": "entry",
    "referrals.cli.sample_data": "entry",
    "referrals.cli.staff": "entry",
    "referrals.hsds_api": "entry",
    "referrals.portal": "entry",
    "referrals.portal.app": "entry",
    "referrals.portal.auth": "entry",
    "referrals.portal.context": "entry",
    "referrals.portal.routes": "entry",
    "referrals.portal.views": "entry",
    "referrals.portal.live": "entry",
    "bot": "entry",
    "bot.__main__": "entry",
    "bot.backup": "entry",
    "bot.conversation": "entry",
    "bot.gateway": "entry",
    "bot.keywords": "entry",
    "bot.live": "entry",
    "bot.limits": "entry",
    "bot.rasa_client": "entry",
    "bot.redact": "entry",
    "bot.render": "entry",
    "bot.safety": "entry",
    "bot.scaleout": "entry",
    "bot.sms": "entry",
    "bot.stack": "entry",
    "bot.stores": "entry",
    "bot.supervise": "entry",
    "bot.triage": "entry",
    "actions": "entry",
    "actions.answers": "entry",
    "actions.callbacks": "entry",
    "actions.conversation": "entry",
    "actions.forms": "entry",
    "actions.messages": "entry",
    "actions.programs": "entry",
    "actions.sender": "entry",
    "actions.server": "entry",
    "actions.services": "entry",
    "actions.trust": "entry",
    "rasa_plugins": "entry",
    "rasa_plugins.crisis_gate": "entry",
    "scripts.audit_releases": "entry",
    "scripts.bench_gateway": "entry",
    "scripts.bench_reports": "entry",
    "scripts.rasa_log_filter": "entry",
    "scripts.rasa_run": "entry",
}

# Known exceptions, each with its reason. Keep this short: fix the code instead where it is a small move.
ALLOWED_IMPORTS: dict[tuple[str, str], str] = {}
ALLOWED_IMPORT_TIME_IO: dict[str, str] = {
    "bot.gateway": "CRISIS_REPLIES is read from domain.yml at import (the gateway is being reworked in issue 13)",
    "referrals.migrations.env": "an Alembic script: run by `alembic upgrade`, never imported by the app",
}

# Calls that open a database, read a file or start a client. Made at module level (or inside a function of the
# module that module level calls) they run at import time.
IO_CALLS = frozenset({"open", "read_text", "read_bytes", "safe_load", "load", "loads_file", "create_engine",
                      "make_engine", "sessionmaker", "make_sessionmaker", "connect", "from_env", "from_url",
                      "Redis", "ClientSession", "Client", "getenv", "urlopen"})

APP_DIRS = ("referrals", "bot", "actions", "rasa_plugins", "scripts")
OWN_TOP = frozenset({"referrals", "bot", "actions", "rasa_plugins", "scripts", "tests"})


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def app_modules() -> dict[str, Path]:
    found = {}
    for top in APP_DIRS:
        for path in sorted((ROOT / top).rglob("*.py")):
            if "versions" in path.parts and "migrations" in path.parts:
                continue  # migration scripts: frozen history, run by Alembic
            found[module_name(path)] = path
    return found


def imported_modules(source: str, known: set[str]) -> set[str]:
    """Every module of ours the source imports, at the top or inside a function, resolved to a known module
    where `from package import module` names one."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in known else node.module
                     for a in node.names]
        else:
            continue
        out.update(name for name in names if name.split(".")[0] in OWN_TOP)
    return out


def layer_of(module: str) -> str | None:
    return MODULE_LAYER.get(module)


def import_problems(module: str, source: str, known: set[str]) -> list[str]:
    """What is wrong with the imports of `module` (empty when nothing is)."""
    problems = []
    mine = layer_of(module)
    for target in sorted(imported_modules(source, known)):
        if (module, target) in ALLOWED_IMPORTS:
            continue
        if target == "tests" or target.startswith("tests."):
            problems.append(f"{module} imports {target}: app code, scripts and benchmarks never import tests/")
            continue
        ends = {module.split(".")[0], target.split(".")[0]}
        if ends == {"bot", "actions"}:
            problems.append(f"{module} imports {target}: bot/ and actions/ never import each other")
            continue
        theirs = layer_of(target)
        if mine is None or theirs is None:
            problems.append(f"{module} imports {target}: a module without a layer in MODULE_LAYER")
        elif LAYERS.index(theirs) > LAYERS.index(mine):
            problems.append(f"{module} ({mine}) imports {target} ({theirs}): an upward import")
    return problems


def _call_name(call: ast.Call) -> str:
    func = call.func
    if isinstance(func, ast.Attribute):
        return func.attr
    if isinstance(func, ast.Name):
        return func.id
    return ""


def import_time_io(module: str, source: str) -> list[str]:
    """Module-level statements that do I/O when the module is imported, directly or through a function of the
    same module that module level calls."""
    tree = ast.parse(source)
    functions = {n.name: n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
    problems = []
    for stmt in tree.body:
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Import, ast.ImportFrom)):
            continue
        if isinstance(stmt, ast.If) and "__main__" in ast.unparse(stmt.test):
            continue
        nodes = [stmt]
        if isinstance(stmt, (ast.Assign, ast.AnnAssign, ast.Expr)):
            nodes += [functions[_call_name(c)] for c in ast.walk(stmt)
                      if isinstance(c, ast.Call) and _call_name(c) in functions]
        for node in nodes:
            for call in (c for c in ast.walk(node) if isinstance(c, ast.Call)):
                if _call_name(call) in IO_CALLS:
                    problems.append(f"{module}:{stmt.lineno} calls {_call_name(call)}() at import time")
    return problems


def test_every_module_has_a_layer():
    found = set(app_modules())
    assert sorted(found - set(MODULE_LAYER)) == [], "give each new module a layer in MODULE_LAYER"
    assert sorted(set(MODULE_LAYER) - found) == [], "MODULE_LAYER names modules that no longer exist"
    assert set(MODULE_LAYER.values()) <= set(LAYERS)


def test_imports_go_one_way():
    modules = app_modules()
    known = set(modules)
    problems = [p for name, path in modules.items() for p in import_problems(name, path.read_text(), known)]
    assert problems == []


def test_the_exceptions_are_still_needed():
    """An exception that no longer happens is taken off the list, so the list only ever shrinks."""
    modules = app_modules()
    known = set(modules)
    for (module, target), why in ALLOWED_IMPORTS.items():
        assert target in imported_modules(modules[module].read_text(), known), f"{module} -> {target}: {why}"
    for module, why in ALLOWED_IMPORT_TIME_IO.items():
        assert import_time_io(module, modules[module].read_text()), f"{module}: {why}"


def test_nothing_does_io_at_import_time():
    problems = [p for name, path in app_modules().items() if name not in ALLOWED_IMPORT_TIME_IO
                for p in import_time_io(name, path.read_text())]
    assert problems == []


# The checks themselves can fail: synthetic sources that break each rule.
@pytest.mark.parametrize(("module", "source", "expected"), [
    ("referrals.matching", "from referrals.db import make_engine\n", "(core) imports referrals.db (database)"),
    ("referrals.models", "def f():\n    from referrals.cases import claim\n", "(database) imports referrals.cases"),
    ("referrals.cases", "from referrals.portal import views\n", "imports referrals.portal.views (entry)"),
    ("bot.gateway", "from actions.messages import TEXTS\n", "bot/ and actions/ never import each other"),
    ("actions.forms", "import bot.render\n", "bot/ and actions/ never import each other"),
    ("scripts.bench_reports", "from tests.conftest import PG_ADMIN_URL\n", "never import tests/"),
    ("referrals.intake", "from referrals.nowhere import x\n", "a module without a layer"),
])
def test_an_upward_import_is_caught(module: str, source: str, expected: str):
    problems = import_problems(module, source, set(MODULE_LAYER))
    assert len(problems) == 1 and expected in problems[0], problems


@pytest.mark.parametrize("source", [
    "from referrals.models import ReferralCase\nfrom referrals.matching import Answers\n",
    "def f():\n    from referrals.db import make_engine\n",
])
def test_a_downward_import_passes(source: str):
    assert import_problems("referrals.residents", source, set(MODULE_LAYER)) == []


@pytest.mark.parametrize(("source", "call"), [
    ("from pathlib import Path\nTEXT = Path('x.yml').read_text()\n", "read_text"),
    ("from referrals.db import make_engine\nENGINE = make_engine('sqlite://')\n", "make_engine"),
    ("import yaml\ndef _load():\n    return yaml.safe_load(open('d.yml'))\nDOMAIN = _load()\n", "safe_load"),
])
def test_import_time_io_is_caught(source: str, call: str):
    problems = import_time_io("referrals.topics", source)
    assert problems and f"calls {call}()" in problems[0]


def test_io_inside_a_function_is_not_import_time():
    assert import_time_io("referrals.topics", "def load(path):\n    return open(path).read()\n") == []
