"""Vault keys that rotate, a wrong key refused at start, jobs that say when they fail (ASVS V6.4, V7.4).

On main there was one Fernet key and no rotation; a wrong but well-formed VAULT_KEY was accepted at start
and new contacts were sealed under it; `python -m referrals followups` failed every send and exited 0.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select

from referrals.config import ROOT, Settings
from referrals.db import make_sessionmaker
from referrals.models import ContactEntry, ReferralCase
from referrals.residents import create_referral, save_contact
from referrals.directory import load_directory_file
from referrals.cli.followups import run_command
from referrals.matching import Answers
from referrals.privacy import record_consent
from referrals.vault import KeyMissing, Vault
from tests.fake_twilio import FakeTwilio

OLD, NEW = Fernet.generate_key().decode(), Fernet.generate_key().decode()


def cli(db_url: str, *args: str, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in ("VAULT_KEY", "VAULT_KEYS")}
    return subprocess.run([sys.executable, "-m", "referrals", "keys", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, env={**clean, "DATABASE_URL": db_url, **env})


def store_contacts(engine, vault: Vault, n: int, legacy: Fernet | None = None) -> list[str]:
    numbers = [f"+1555010{i:04d}" for i in range(n)]
    with make_sessionmaker(engine).begin() as s:
        for i, number in enumerate(numbers):
            sealed = legacy.encrypt(number.encode()).decode() if legacy and i % 2 else vault.seal(number)
            save_contact(s, f"sms-{uuid.uuid4().hex}", "sms", sealed)
    return numbers


def stored(engine) -> list[str]:
    with make_sessionmaker(engine)() as s:
        return list(s.scalars(select(ContactEntry.ciphertext)))


def test_several_keys_with_ids_seal_under_the_newest_and_open_under_any():
    old = Vault(f"2026a:{OLD}")
    both = Vault(f"2027a:{NEW},2026a:{OLD}")
    sealed_old = old.seal("+15550102000")
    assert sealed_old.startswith("2026a$")
    assert both.open(sealed_old) == "+15550102000"
    assert both.seal("+15550103000").startswith("2027a$")
    assert Vault(OLD).open(Fernet(OLD.encode()).encrypt(b"x").decode()) == "x", "VAULT_KEY still works"
    with pytest.raises(KeyMissing, match="none of the vault keys"):
        Vault(f"2027a:{NEW}").open(sealed_old)
    for bad, message in ((f"a b:{NEW}", "key id"), (f"x:{NEW},x:{OLD}", "twice"), ("x:notakey", "not a Fernet"),
                         ("", "not set")):
        with pytest.raises(KeyMissing, match=message):
            Vault(bad)


def test_keys_rotate_reencrypts_every_entry_under_the_newest_key(engine):
    url = engine.url.render_as_string(hide_password=False)
    numbers = store_contacts(engine, Vault(f"2026a:{OLD}"), 6, legacy=Fernet(OLD.encode()))
    only_new = {"VAULT_KEYS": f"2027a:{NEW}"}
    before = cli(url, "check", **only_new)
    assert before.returncode == 1 and "6 do not open" in before.stdout, before.stdout + before.stderr

    result = cli(url, "rotate", VAULT_KEYS=f"2027a:{NEW},2026a:{OLD}")
    assert result.returncode == 0 and "re-encrypted 6 of 6" in result.stdout, result.stderr
    assert all(c.startswith("2027a$") for c in stored(engine))
    assert sorted(Vault(f"2027a:{NEW}").open(c) for c in stored(engine)) == numbers
    after = cli(url, "check", **only_new)
    assert after.returncode == 0 and "6 contacts checked (6 under 2027a); 0 do not open" in after.stdout

    # Rotating without the key the contacts are under changes nothing and says so.
    third = Fernet.generate_key().decode()
    failed = cli(url, "rotate", VAULT_KEYS=f"2028a:{third}")
    assert failed.returncode == 1 and "nothing was changed" in failed.stderr
    assert all(c.startswith("2027a$") for c in stored(engine))


def test_keys_new_prints_an_entry_that_vault_keys_accepts(tmp_path):
    result = cli(f"sqlite:///{tmp_path / 'x.db'}", "new", "--id", "2027b")
    assert result.returncode == 0
    assert Vault(result.stdout.strip()).current_id == "2027b"


def test_the_gateway_refuses_to_start_with_a_key_that_does_not_open_what_is_stored(tmp_path):
    from referrals.store import upgrade

    url = f"sqlite:///{tmp_path / 'vault.db'}"
    upgrade(url)
    from referrals.db import make_engine

    engine = make_engine(url)
    store_contacts(engine, Vault(OLD), 3)
    before = stored(engine)
    env = {**os.environ, "DATABASE_URL": url, "VAULT_KEY": NEW, "VAULT_KEYS": "", "PSEUDONYM_KEY": "k" * 32,
           "GATEWAY_PORT": "1", "RASA_URL": "http://127.0.0.1:1"}
    result = subprocess.run([sys.executable, "-m", "bot", "gateway"], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 2, result.stderr[-2000:]
    assert "do not open 3 of the 3 newest stored contacts" in result.stderr
    assert "Traceback" not in result.stderr
    assert stored(engine) == before
    engine.dispose()


def _closed_case_with_contact(engine, vault: Vault) -> str:
    who = f"sms-{uuid.uuid4().hex}"
    program = load_directory_file(Settings.from_env()["DIRECTORY_FILE"])[0]
    with make_sessionmaker(engine).begin() as s:
        case = create_referral(s, pseudonym=who, program=program, need="employment",
                               answers=Answers(zip_code="47104", language="en"), neighborhood=None, channel="sms")
        case.status = "closed"
        record_consent(s, who, "followup", True, wording="ok", language="en", channel="sms")
        save_contact(s, who, "sms", vault.seal("+15550109999"))
        return case.id


def test_the_followups_job_exits_non_zero_when_sends_fail(engine):
    url = engine.url.render_as_string(hide_password=False)
    vault = Vault(OLD)
    case_id = _closed_case_with_contact(engine, vault)
    fake = FakeTwilio().start()
    try:
        base = {"DATABASE_URL": url, "VAULT_KEY": OLD, "PSEUDONYM_KEY": "k" * 32, "TWILIO_ACCOUNT_SID": fake.account_sid,
                "TWILIO_FROM_NUMBER": "+15550100000", "TWILIO_API_BASE": fake.url}
        assert run_command(Settings.from_env({**base, "TWILIO_AUTH_TOKEN": "wrong"})) == 1
        assert fake.messages == []
        assert run_command(Settings.from_env({**base, "VAULT_KEY": NEW, "TWILIO_AUTH_TOKEN": fake.auth_token})) == 2
        assert fake.messages == [], "a wrong key sends nothing"
        assert run_command(Settings.from_env({**base, "TWILIO_AUTH_TOKEN": fake.auth_token})) == 0
        assert len(fake.to("+15550109999")) == 1, "the failed one was tried again and went out"
        down = {**base, "TWILIO_AUTH_TOKEN": fake.auth_token, "TWILIO_API_BASE": "http://127.0.0.1:1"}
        _closed_case_with_contact(engine, vault)
        assert run_command(Settings.from_env(down)) == 1, "Twilio unreachable is a failure too, not a crash"
    finally:
        fake.stop()
    with make_sessionmaker(engine)() as s:
        assert s.get(ReferralCase, case_id).followup_status == "sent"
