"""Shared fixtures: real databases and the real Rasa + action server stack, each made once per run."""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path
from typing import Iterator

import pytest
from sqlalchemy import text

# PG_ADMIN_URL, TWILIO_TEST_TOKEN, start_gateway and stop_gateway are imported from here by the tests too.
from bot.stack import (PG_ADMIN_URL, TWILIO_TEST_TOKEN, GatewayProcess, start_gateway,  # noqa: F401
                       stop_gateway)
from referrals.config import ROOT, Settings
from referrals.db import make_engine

# Staff passwords are hashed with argon2-cffi's cheapest parameters in test runs (and in the processes they
# start), like Django's test hashers: the strong default costs most of a second per sign-in, and the portal
# tests sign in hundreds of times. tests/test_portal_security.py checks the strong default itself. Set
# PASSWORD_HASH_PROFILE=strong to run the suite with production's cost.
os.environ.setdefault("PASSWORD_HASH_PROFILE", "test")


# --- test tiers ---------------------------------------------------------------------------------------
# A test that uses one of these fixtures, directly or through another fixture, needs the trained Rasa model
# or starts server processes (Rasa, the action server, the gateway, the HSDS API, a browser): it is marked
# `stack`. The hostile-input runs of tests/test_*_fuzz.py (FUZZ_N inputs per route) are marked `fuzz`.
# `make test-fast` runs every other test (`pytest -m "not stack and not fuzz"`); `make test` runs them all.
STACK_FIXTURES = frozenset({"model", "stack", "gateway", "browser", "api"})


def pytest_collection_modifyitems(config, items) -> None:
    for item in items:
        if STACK_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.stack)
        if item.path.name.endswith("_fuzz.py"):
            item.add_marker(pytest.mark.fuzz)


def _pg_available() -> str | None:
    try:
        engine = make_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(text("select 1"))
        engine.dispose()
        return None
    except Exception as exc:  # pragma: no cover - depends on the machine
        return f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A PostgreSQL database of our own for this run, dropped at the end.

    CI sets REQUIRE_POSTGRES=1 so a missing server fails the run instead of skipping.
    """
    problem = _pg_available()
    if problem:
        if os.environ.get("REQUIRE_POSTGRES") == "1":
            pytest.fail(f"PostgreSQL required (REQUIRE_POSTGRES=1) but not reachable at {PG_ADMIN_URL}: {problem}")
        pytest.skip(f"no PostgreSQL at {PG_ADMIN_URL} ({problem}); set TEST_PG_ADMIN_URL to run these tests")
    name = f"riverbend_test_{uuid.uuid4().hex[:10]}"
    admin = make_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


# Every database test gets a database of its own, migrated to the newest schema. Running the migrations
# for each test cost most of a second on PostgreSQL and a quarter on SQLite, hundreds of times per run, so
# each kind is migrated once per run (with the same `upgrade` as production) and each test gets a copy:
# the SQLite file copied, the PostgreSQL database made with CREATE DATABASE ... TEMPLATE.

@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> Path:
    """An SQLite database migrated once per run; `db_url` copies it for each test."""
    from referrals.store import upgrade

    path = tmp_path_factory.mktemp("migrated") / "template.db"
    upgrade(f"sqlite:///{path}")  # the engine is disposed after: the file is whole, with no -wal beside it
    return path


@pytest.fixture(scope="session")
def pg_template(pg_url: str) -> Iterator[str]:
    """The name of a PostgreSQL database migrated once per run; `db_url` makes each test's from it. Nothing
    stays connected to it (PostgreSQL copies a template only then)."""
    from referrals.store import upgrade

    name = pg_url.rsplit("/", 1)[1] + "_migrated"
    admin = make_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        upgrade(PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name)
        yield name
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path: Path) -> Iterator[str]:
    """A fresh, migrated database of each kind the product supports."""
    if request.param == "sqlite":
        path = tmp_path / "test.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite:///{path}"
        return
    template = request.getfixturevalue("pg_template")
    schema_db = request.getfixturevalue("pg_url") + "_" + uuid.uuid4().hex[:6]
    admin = make_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    db_name = schema_db.rsplit("/", 1)[1]
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{db_name}" TEMPLATE "{template}"'))
    try:
        yield schema_db
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def engine(db_url):
    """An engine on the fresh, migrated database of each kind."""
    engine = make_engine(db_url)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def model() -> Path:
    """The trained model, trained once per run (and reused across runs while data is unchanged)."""
    from bot.stack import ensure_model

    return ensure_model()


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def stack(request, model, tmp_path_factory):
    """Rasa server + action server on free loopback ports, over a fresh database of each kind."""
    from bot.stack import running_stack

    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('stack') / 'referrals.db'}"
    else:
        url = request.getfixturevalue("pg_url")
    settings = Settings.from_env({**os.environ, "DATABASE_URL": url})
    with running_stack(settings, log=lambda m: None) as s:
        yield s


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return ROOT


# --- the resident gateway, as a real process in front of the real stack -------------------------
# The gateway process is started by bot/stack.py (`start_gateway`), which scripts/bench_gateway.py uses too.

@pytest.fixture(scope="session")
def gateway(stack) -> Iterator[GatewayProcess]:
    """The gateway process in front of each stack (SQLite and PostgreSQL)."""
    gw = start_gateway(stack)
    yield gw
    stop_gateway(gw)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """A failed test that ran a gateway shows the gateway's fault lines (the log holds no personal data:
    errors name a type and a file:line), so a fault seen only in CI can be traced from its output."""
    report = yield
    gateway = item.funcargs.get("gateway") if hasattr(item, "funcargs") else None
    if report.failed and isinstance(gateway, GatewayProcess):
        try:
            lines = [line for line in gateway.log_text().splitlines()
                     if any(k in line for k in ("_error", "_failed", "Traceback", "Error"))]
        except OSError:
            lines = []
        if lines:
            report.sections.append(("gateway faults", "\n".join(lines[-40:])))
    return report
