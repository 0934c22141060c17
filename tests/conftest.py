"""Shared fixtures: real databases and the real Rasa + action server stack, each made once per run."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest
from sqlalchemy import text

from referrals.config import ROOT, Settings
from referrals.db import make_engine

PG_ADMIN_URL = os.environ.get("TEST_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


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


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path: Path) -> Iterator[str]:
    """A fresh, migrated database of each kind the product supports."""
    from referrals.store import upgrade

    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'test.db'}"
        upgrade(url)
        yield url
        return
    base = request.getfixturevalue("pg_url")
    schema_db = base + "_" + uuid.uuid4().hex[:6]
    admin = make_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    db_name = schema_db.rsplit("/", 1)[1]
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{db_name}"'))
    try:
        upgrade(schema_db)
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

TWILIO_TEST_TOKEN = "test-twilio-auth-token-0123456789"


@dataclass
class GatewayProcess:
    url: str
    env: dict[str, str]
    log_file: Path
    proc: "subprocess.Popen"
    stack: object

    def log_text(self) -> str:
        return self.log_file.read_text(errors="replace")


# One vault key per database: a gateway refuses to start with a key that does not open the contacts
# already stored (referrals/keys.py), and several tests start their own gateway on the same stack.
_VAULT_KEYS: dict[str, str] = {}


def start_gateway(stack, env_extra: dict[str, str] | None = None, log_name: str = "gateway") -> GatewayProcess:
    """`python -m bot gateway` on a free port against `stack`; the caller stops it."""
    from cryptography.fernet import Fernet

    from bot.stack import RUN_DIR, wait_http, free_port

    port = free_port()
    env = {**os.environ, "RASA_URL": stack.rasa_url, "RASA_TOKEN": stack.token,
           "ACTIONS_SECRET": stack.actions_secret,
           "DATABASE_URL": stack.database_url, "GATEWAY_HOST": "127.0.0.1", "GATEWAY_PORT": str(port),
           "ACTIONS_URL": stack.actions_url,
           "TWILIO_AUTH_TOKEN": TWILIO_TEST_TOKEN, "PUBLIC_BASE_URL": "",
           "PSEUDONYM_KEY": uuid.uuid4().hex * 2,
           # No live desk unless a test opens one (tests/test_live_handoff.py): what asking for a person
           # does must not depend on the hour the suite runs at.
           "LIVE_TEAMS": "off",
           "VAULT_KEY": _VAULT_KEYS.setdefault(stack.database_url, Fernet.generate_key().decode()),
           **(env_extra or {})}
    RUN_DIR.mkdir(parents=True, exist_ok=True)
    log_file = RUN_DIR / f"{log_name}-{port}.log"
    proc = subprocess.Popen([sys.executable, "-m", "bot", "gateway"], cwd=ROOT, env=env,
                            stdout=log_file.open("wb"), stderr=subprocess.STDOUT)
    gw = GatewayProcess(f"http://127.0.0.1:{port}", env, log_file, proc, stack)
    try:
        wait_http(f"{gw.url}/", proc, 30, "gateway", log_file)  # /healthz is 503 while a part is down
    except Exception:
        stop_gateway(gw)
        raise
    return gw


def stop_gateway(gw: GatewayProcess) -> None:
    if gw.proc.poll() is None:
        gw.proc.terminate()
        try:
            gw.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            gw.proc.kill()


@pytest.fixture(scope="session")
def gateway(stack) -> Iterator[GatewayProcess]:
    """The gateway process in front of each stack (SQLite and PostgreSQL)."""
    gw = start_gateway(stack)
    yield gw
    stop_gateway(gw)
