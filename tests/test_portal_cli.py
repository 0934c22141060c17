"""`python -m referrals users ...`: staff accounts made on the command line, as a city's admin would,
against a real database (SQLite and PostgreSQL)."""

from __future__ import annotations

import argparse
import io
import os
import subprocess
import sys

import pytest
from sqlalchemy import select

from referrals import accounts, models
from referrals.cli import staff
from referrals.config import ROOT
from referrals.db import make_engine, make_sessionmaker
from referrals.models import StaffUser
from referrals.store import load_directory

PASSWORD = "a long enough passphrase"
ORG = "Riverbend Community College"


def users(db_url: str, *args: str, stdin: str = "") -> subprocess.CompletedProcess:
    env = {**os.environ, "DATABASE_URL": db_url}
    return subprocess.run([sys.executable, "-m", "referrals", "users", *args], input=stdin, text=True,
                          capture_output=True, env=env, cwd=ROOT, timeout=120)


def account(db_url: str, username: str) -> StaffUser | None:
    engine = make_engine(db_url)
    try:
        with make_sessionmaker(engine)() as s:
            return s.scalar(select(StaffUser).where(StaffUser.username == username))
    finally:
        engine.dispose()


@pytest.fixture
def directory_db(db_url: str) -> str:
    """A database with the sample directory, so --org is checked against real organizations."""
    engine = make_engine(db_url)
    load_directory(engine, ROOT / "referrals/data/sample_directory.json", ROOT / "referrals/data/neighborhoods.csv")
    engine.dispose()
    return db_url


def test_add_list_disable_an_account(directory_db: str):
    made = users(directory_db, "add", "ana", "--role", "caseworker", "--org", ORG, "--password-stdin",
                 stdin=PASSWORD + "\n")
    assert made.returncode == 0, made.stderr
    assert made.stdout.splitlines()[0] == f"created caseworker ana of {ORG}"
    assert "first sign-in" in made.stdout and "authenticator app" in made.stdout
    user = account(directory_db, "ana")
    assert user.password_hash.startswith("$argon2id$") and PASSWORD not in user.password_hash
    engine = make_engine(directory_db)
    with make_sessionmaker(engine).begin() as s:
        assert accounts.authenticate(s, "ana", PASSWORD) is not None
    engine.dispose()

    listed = users(directory_db, "list")
    assert listed.returncode == 0
    assert any(line.split()[:2] == ["ana", "caseworker"] and line.rstrip().endswith("active")
               for line in listed.stdout.splitlines())
    assert users(directory_db, "disable", "ana").returncode == 0
    assert account(directory_db, "ana").active is False
    assert any(line.startswith("ana ") and line.rstrip().endswith("disabled") for line in users(directory_db, "list").stdout.splitlines())


@pytest.mark.parametrize("args, stdin, message", [
    (("add", "bo", "--role", "analyst", "--password-stdin"), "short pass\n", "at least 12 characters"),
    (("add", "bo", "--role", "analyst", "--password-stdin"), "\n", "at least 12 characters"),
    (("add", "bo", "--role", "caseworker", "--password-stdin"), PASSWORD + "\n", "needs --org"),
    (("add", "bo", "--role", "caseworker", "--org", "Nobody's Agency", "--password-stdin"), PASSWORD + "\n",
     "no program in the directory belongs to"),
    (("add", "bo", "--role", "admin", "--org", ORG, "--password-stdin"), PASSWORD + "\n", "leave out --org"),
    (("disable", "nobody"), "", "no account 'nobody'"),
    (("add", "bo", "--role", "analyst", "--password-stdin"), "qwertyuiopasdfgh\n", "too easy to guess"),
    (("add", "bo", "--role", "analyst", "--password-stdin"), "LeaveMeAlone\n", "common or breached"),
    (("add", "bo\x1bx", "--role", "analyst", "--password-stdin"), PASSWORD + "\n", "control characters"),
    (("reset-mfa", "nobody"), "", "no account 'nobody'"),
])
def test_bad_input_is_refused_with_a_message_and_creates_nothing(directory_db: str, args, stdin, message):
    result = users(directory_db, *args, stdin=stdin)
    assert result.returncode == 1
    assert message in result.stderr and "Traceback" not in result.stderr
    assert account(directory_db, "bo") is None


def test_unknown_role_is_refused_by_the_parser(db_url: str):
    result = users(db_url, "add", "bo", "--role", "superuser", "--password-stdin", stdin=PASSWORD + "\n")
    assert result.returncode == 2 and "invalid choice" in result.stderr


def test_a_taken_username_is_refused(db_url: str):
    assert users(db_url, "add", "cy", "--role", "analyst", "--password-stdin", stdin=PASSWORD + "\n").returncode == 0
    again = users(db_url, "add", "cy", "--role", "admin", "--password-stdin", stdin=PASSWORD + "\n")
    assert again.returncode == 1 and "taken" in again.stderr
    assert account(db_url, "cy").role == "analyst"


def _terminal_add(db_url: str, answers: list[str], capsys) -> tuple[int, str]:
    """The interactive path: two getpass prompts, answered here in place of a person at the terminal."""
    args = argparse.Namespace(command="add", username="di", role="admin", org=None, password_stdin=False)
    prompts = iter(answers)
    terminal = staff._Terminal(ask=lambda prompt: next(prompts), stdin=io.StringIO(""))
    code = staff.run_cli(args, db_url, terminal)
    return code, capsys.readouterr().err


def test_password_asked_twice_must_match(db_url: str, capsys):
    code, err = _terminal_add(db_url, [PASSWORD, PASSWORD + "x"], capsys)
    assert code == 1 and "differ" in err and account(db_url, "di") is None
    code, err = _terminal_add(db_url, [PASSWORD, PASSWORD], capsys)
    assert code == 0 and account(db_url, "di").role == "admin"


def test_reset_mfa_on_the_command_line_makes_them_enroll_again(directory_db: str):
    """For the last admin who lost their phone and their recovery codes: done on the server, audited."""
    assert users(directory_db, "add", "eve", "--role", "admin", "--password-stdin",
                 stdin=PASSWORD + "\n").returncode == 0
    engine = make_engine(directory_db)
    try:
        with make_sessionmaker(engine).begin() as s:
            eve = s.scalar(select(StaffUser).where(StaffUser.username == "eve"))
            accounts.enrollment_secret(s, eve)
            eve.totp_enrolled_at = models.utcnow()
            accounts.new_recovery_codes(s, eve)
            accounts.start_session(s, eve, mfa_done=True)
        assert "enrolled" in users(directory_db, "list").stdout
        reset = users(directory_db, "reset-mfa", "eve")
        assert reset.returncode == 0 and "enroll" in reset.stdout
        with make_sessionmaker(engine)() as s:
            eve = s.scalar(select(StaffUser).where(StaffUser.username == "eve"))
            assert not eve.mfa_enrolled and eve.totp_secret is None
            assert accounts.recovery_codes_left(s, eve) == 0
            assert not s.scalars(select(models.StaffSession).where(models.StaffSession.user_id == eve.id)).all()
            (entry,) = s.scalars(select(models.AuditEntry).where(models.AuditEntry.action == "mfa_reset")).all()
            assert entry.username is None and entry.detail == "eve on the command line"
    finally:
        engine.dispose()
