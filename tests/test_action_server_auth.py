"""Only Rasa runs actions, and actions change only the sender's own records (ASVS V4: access control).

On main, the action server accepted any local POST: a forged `action_save_consents` call with another
resident's `referral_id` rewrote race and gender on their anonymous log row, and `action_create_referral`
made a case for any sender id. These tests make those calls against the real action server of the
real stack (SQLite and PostgreSQL) and read the database afterwards.
"""

from __future__ import annotations

import asyncio
import uuid

import aiohttp
from sqlalchemy import func, select

from referrals.db import make_engine, make_sessionmaker
from referrals.models import ReferralCase, ReferralLogEntry
from referrals.residents import create_referral
from referrals.directory import load_directory_file
from referrals.config import Settings
from referrals.matching import Answers
from referrals.privacy import record_consent
from referrals.vault import sender_proof


def post(url: str, body: dict | bytes, headers: dict[str, str] | None = None) -> tuple[int, dict | None]:
    async def go():
        async with aiohttp.ClientSession() as s:
            kwargs = {"data": body} if isinstance(body, bytes) else {"json": body}
            async with s.post(url, headers=headers or {}, **kwargs) as resp:
                try:
                    return resp.status, await resp.json(content_type=None)
                except ValueError:
                    return resp.status, None
    return asyncio.run(go())


def victim_referral(stack) -> tuple[str, str]:
    """A resident who consented to analytics and gave race and gender: (pseudonym, referral id)."""
    who = "sms-" + uuid.uuid4().hex + "abcdefab"
    program = load_directory_file(Settings.from_env()["DIRECTORY_FILE"])[0]
    engine = make_engine(stack.database_url)
    try:
        with make_sessionmaker(engine).begin() as s:
            case = create_referral(s, pseudonym=who, program=program, need="employment",
                                   answers=Answers(zip_code="47104", language="en"), neighborhood="Eastside",
                                   channel="sms")
            record_consent(s, who, "analytics", True, wording="ok", language="en", channel="sms")
            s.execute(ReferralLogEntry.__table__.update().where(ReferralLogEntry.referral_id == case.id)
                      .values(race_ethnicity="asian", gender="woman"))
            return who, case.id
    finally:
        engine.dispose()


def demographics(stack, referral_id: str) -> set[tuple[str | None, str | None]]:
    engine = make_engine(stack.database_url)
    try:
        with make_sessionmaker(engine)() as s:
            return set(s.execute(select(ReferralLogEntry.race_ethnicity, ReferralLogEntry.gender)
                                 .where(ReferralLogEntry.referral_id == referral_id)).all())
    finally:
        engine.dispose()


def cases_of(stack, who: str) -> int:
    engine = make_engine(stack.database_url)
    try:
        with make_sessionmaker(engine)() as s:
            return s.scalar(select(func.count()).select_from(ReferralCase)
                            .where(ReferralCase.resident_pseudonym == who))
    finally:
        engine.dispose()


def consent_call(sender: str, referral_id: str, proof: str | None) -> dict:
    """What Rasa sends for `action_save_consents`, with the slots an attacker would choose."""
    metadata = {"channel": "sms", **({"sender_proof": proof} if proof else {})}
    return {
        "next_action": "action_save_consents", "version": "3.6.21", "domain": {},
        "tracker": {
            "sender_id": sender, "latest_message": {"text": "2", "metadata": metadata, "intent": {}},
            "events": [], "paused": False, "followup_action": None, "active_loop": {},
            "latest_action_name": "consent_form",
            "slots": {"referral_id": referral_id, "language": "en",
                      "consent_questions": ["consent_analytics", "race_ethnicity", "gender"],
                      "consent_analytics": "yes", "race_ethnicity": "white", "gender": "man"},
        },
    }


def referral_call(sender: str, proof: str | None) -> dict:
    body = consent_call(sender, "", proof)
    body["next_action"] = "action_create_referral"
    program = load_directory_file(Settings.from_env()["DIRECTORY_FILE"])[0]
    body["tracker"]["slots"] = {"language": "en", "need": "employment", "matched_programs": [program.id],
                                "referral_choice": "1", "zip_code": "47104"}
    return body


def test_the_action_server_runs_nothing_without_rasas_secret(stack):
    who, referral = victim_referral(stack)
    forged = consent_call("sms-" + uuid.uuid4().hex + "00000000", referral, None)
    url = stack.actions_url + "/webhook"

    status, body = post(url, forged)
    assert status == 401, body
    status, body = post(url, forged, {"X-Actions-Secret": "guessed-" + uuid.uuid4().hex})
    assert status == 403, body
    status, _ = post(url, b"\xff\x00not json", {"X-Actions-Secret": "x"})
    assert status == 403
    status, _ = post(stack.actions_url + "/actions", {}, {})  # even the list of actions
    assert status == 401
    assert demographics(stack, referral) == {("asian", "woman")}, "the forged call changed the victim's row"

    # Rasa's own calls carry the secret: a whole consented referral still works end to end.
    status, body = post(url, referral_call(who, sender_proof(stack.actions_secret, who)),
                        {"X-Actions-Secret": stack.actions_secret})
    assert status == 200 and any("reference is" in (r.get("text") or "") for r in body["responses"]), body


def test_consents_cannot_be_saved_onto_someone_elses_referral(stack):
    """Even a call that gets past the secret (a compromised Rasa, a replayed request) changes only the
    sender's own referral: the attacker's proven sender id does not own the victim's referral."""
    _, referral = victim_referral(stack)
    attacker = "sms-" + uuid.uuid4().hex + "11111111"
    secret = {"X-Actions-Secret": stack.actions_secret}

    status, body = post(stack.actions_url + "/webhook",
                        consent_call(attacker, referral, sender_proof(stack.actions_secret, attacker)), secret)
    assert status == 200, body
    assert demographics(stack, referral) == {("asian", "woman")}
    assert any("couldn't save those answers" in (r.get("text") or "") for r in body["responses"]), body


def test_sender_ids_without_the_gateways_proof_get_no_referral_and_change_no_consents(stack):
    victim, referral = victim_referral(stack)
    secret = {"X-Actions-Secret": stack.actions_secret}

    # Posing as the victim (their pseudonym leaked) without the gateway's proof: nothing changes.
    status, body = post(stack.actions_url + "/webhook", consent_call(victim, referral, "0" * 64), secret)
    assert status == 200 and demographics(stack, referral) == {("asian", "woman")}, body
    stranger = "sms-" + uuid.uuid4().hex + "22222222"
    status, body = post(stack.actions_url + "/webhook", referral_call(stranger, None), secret)
    assert status == 200 and cases_of(stack, stranger) == 0, body
    status, body = post(stack.actions_url + "/webhook",
                        referral_call(stranger, sender_proof("not-the-secret-at-all", stranger)), secret)
    assert status == 200 and cases_of(stack, stranger) == 0, body

    # The owner, with the proof, still records their own answers.
    status, body = post(stack.actions_url + "/webhook",
                        consent_call(victim, referral, sender_proof(stack.actions_secret, victim)), secret)
    assert status == 200 and demographics(stack, referral) == {("white", "man")}, body


def test_the_action_server_refuses_to_start_without_a_secret(tmp_path):
    import os
    import subprocess
    import sys

    from referrals.config import ROOT

    env = {k: v for k, v in os.environ.items() if k != "ACTIONS_SECRET"}
    result = subprocess.run([sys.executable, "-m", "actions.server", "-p", "1"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "ACTIONS_SECRET is not set" in result.stderr
