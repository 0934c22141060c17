"""Issue 4 through the real gateway: keywords before the NLU, opt-out that holds (also for texts the city
sends first, checked against a local fake of Twilio's Messages API), MY DATA, DELETE, crisis flags,
PII kept out of Rasa, the database and the logs, and the retention purge."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from bot.sms import plain_gsm, segments
from referrals.config import ROOT, Settings
from referrals.db import make_engine, make_sessionmaker
from referrals.models import Consent, ContactEntry, CrisisFlag, OptOut, ReferralCase, ReferralLogEntry, Resident, utcnow
from referrals.privacy import record_consent
from referrals.outbound import Outbound
from tests.chat import Texter, answer_questions, bodies
from tests.conftest import TWILIO_TEST_TOKEN, start_gateway, stop_gateway
from tests.fake_twilio import FakeTwilio
from tests.test_gateway_sms import db_dump, digits, sms_pseudonym, texter, tracker, user_turns


def sessions(gateway):
    return make_sessionmaker(make_engine(gateway.stack.database_url))


def refer(t: Texter) -> str:
    """Text our way to a stored employment referral; the last reply."""
    t.say("i need a job")
    answer_questions(t.say, t.say("47104"))
    reply = t.say("1")
    assert "reference is" in reply, t.show()
    return reply


@pytest.fixture()
def fake_twilio():
    fake = FakeTwilio().start()
    yield fake
    fake.stop()


def outbound_for(gateway, fake: FakeTwilio) -> Outbound:
    settings = Settings.from_env({**gateway.env, "TWILIO_ACCOUNT_SID": fake.account_sid,
                                  "TWILIO_AUTH_TOKEN": fake.auth_token, "TWILIO_FROM_NUMBER": "+15550100000",
                                  "TWILIO_API_BASE": fake.url})
    return Outbound(settings, sessions(gateway))


# --- STOP / START / HELP --------------------------------------------------------------------

def test_stop_confirms_once_then_nothing_is_sent_until_start(gateway, fake_twilio):
    t = texter(gateway)
    refer(t)
    who = sms_pseudonym(gateway, t.phone)
    with sessions(gateway).begin() as s:
        record_consent(s, who, "followup", True, "May we text you later?", "en", "sms")
    outbound = outbound_for(gateway, fake_twilio)
    assert outbound.send(who, "How did it go? Reply 1 if it worked, 2 if not.", "followup").status == "sent"
    assert len(fake_twilio.to(t.phone)) == 1, "the real twilio client reached the fake Messages API"

    reply = t.say("  Stop ")
    assert "unsubscribed" in reply and "START" in reply
    turns = user_turns(gateway, who)
    for text in ("hi", "i need a job", "HELLO?", "2"):
        status, twiml = t.post(t.form(text))
        assert status == 200 and bodies(twiml) == [], "nothing is sent to an opted-out number"
    assert user_turns(gateway, who) == turns, "and nothing reaches Rasa"
    assert outbound.send(who, "How did it go?", "followup").status == "opted_out"
    assert outbound.send(who, "A caseworker here", "caseworker").status == "opted_out"
    assert len(fake_twilio.to(t.phone)) == 1, "zero sends after STOP"

    # The opt-out is stored: a restarted gateway (same keys, same database) keeps honouring it.
    again = start_gateway(gateway.stack, {k: gateway.env[k] for k in ("PSEUDONYM_KEY", "VAULT_KEY")},
                          log_name="gateway-restarted")
    try:
        t2 = Texter(again.url, TWILIO_TEST_TOKEN, phone=t.phone)
        status, twiml = t2.post(t2.form("hi"))
        assert status == 200 and bodies(twiml) == []
        reply = t2.say("UNSTOP")
        assert "subscribed again" in reply
        assert "automated assistant" in t2.say("hi").lower()
    finally:
        stop_gateway(again)
    assert outbound.send(who, "How did it go?", "followup").status == "sent"
    assert len(fake_twilio.to(t.phone)) == 2


@pytest.mark.parametrize("word", ["STOP", "stopall", "Unsubscribe.", "cancel", "END", "quit", "revoke", "optout",
                                  "PARAR", "alto", "BAJA", "cancelar"])
def test_every_stop_word_opts_out(gateway, word):
    t = texter(gateway)
    t.say("hi")
    reply = t.say(word)
    assert "unsubscribed" in reply or "dio de baja" in reply
    status, twiml = t.post(t.form("i need a job"))
    assert bodies(twiml) == []
    with sessions(gateway)() as s:
        assert s.get(OptOut, sms_pseudonym(gateway, t.phone)).opted_out


def test_yes_opts_in_only_while_opted_out(gateway):
    t = texter(gateway)
    t.say("hi")
    assert "subscribed again" not in t.say("yes"), "an ordinary yes is an answer, not a keyword"
    t.say("stop")
    assert "subscribed again" in t.say("YES")


def test_spanish_stop_and_help_answer_in_spanish(gateway):
    t = texter(gateway)
    t.say("hola necesito trabajo")
    help_reply = t.say("AYUDA")
    assert "(555) 010-0311" in help_reply and "BAJA" in help_reply and "tarifas" in help_reply
    assert plain_gsm("No le enviaremos más mensajes") in t.say("parar")


def test_help_says_who_how_to_reach_a_person_and_how_to_opt_out(gateway):
    t = texter(gateway)
    reply = t.say("help")
    assert "City of Riverbend" in reply and "(555) 010-0311" in reply
    assert "STOP" in reply and "Msg & data rates may apply" in reply
    assert "MY DATA" in reply and "STATUS" in reply and "DELETE" in reply
    assert segments(reply).segments <= 2


# --- MY DATA and DELETE -----------------------------------------------------------------------

def test_my_data_then_delete_leaves_no_way_back_to_the_number(gateway):
    t = texter(gateway)
    assert "holds nothing" in t.say("MY DATA")
    reference = re.search(r"reference is ([0-9A-F]{8})", refer(t)).group(1).lower()
    who = sms_pseudonym(gateway, t.phone)
    mine = t.say("my data")
    assert "your number, encrypted" in mine and "waiting for a caseworker" in mine and "be contacted" in mine
    assert "(new)" not in mine
    with sessions(gateway)() as s:
        resident = s.get(Resident, who)
        log_id = resident.log_id
        log_rows = s.scalars(select(ReferralLogEntry).where(ReferralLogEntry.resident_log_id == log_id)).all()
        assert log_rows

    reply = t.say("DELETE")
    assert "1 open referral" in reply and "DELETE again" in reply, "an open referral is not erased unasked"
    reply = t.say("DELETE")
    assert "deleted your number, your referrals" in reply
    with sessions(gateway)() as s:
        assert s.get(Resident, who) is None and s.get(ContactEntry, who) is None
        assert s.scalars(select(ReferralCase).where(ReferralCase.resident_pseudonym == who)).all() == []
        assert s.scalars(select(Consent).where(Consent.pseudonym == who)).all() == []
        kept = s.scalars(select(ReferralLogEntry).where(ReferralLogEntry.resident_log_id == log_id)).all()
        assert len(kept) == len(log_rows), "the anonymous log stays for the reports"
        assert not [r for r in kept if r.referral_id.startswith(reference)], \
            "the reference the resident was given no longer finds the log rows"
        assert len({r.referral_id for r in kept}) == len({r.referral_id for r in log_rows})
    dump = db_dump(gateway.stack.database_url)
    assert who not in dump, "nothing left carries the pseudonym"
    assert who not in db_dump(gateway.stack.tracker_store_url), "Rasa's conversation store holds nothing of it"
    assert all(leak not in dump for leak in digits(t.phone))
    assert user_turns(gateway, who) <= 1, "Rasa's memory of the conversation is gone"
    assert "holds nothing" in t.say("my data")


def test_borrar_in_spanish(gateway):
    t = texter(gateway)
    t.say("hola")
    assert plain_gsm("Borramos su número") in t.say("BORRAR")


# --- crisis -----------------------------------------------------------------------------------

@pytest.mark.parametrize("text, lang", [("i want to kill myself tonight", "en"),
                                        ("my husband hits me and i am scared", "en"),
                                        ("ya no quiero vivir", "es")])
def test_crisis_first_then_a_person_flagged_without_the_words(gateway, text, lang):
    t = texter(gateway)
    reply = t.say(text)
    first = reply.split("\n\n")[0]
    assert "988" in first and "911" in first and "800-799-7233" in first and "88788" in first
    assert "person" in reply.lower() or "persona" in reply.lower()
    who = sms_pseudonym(gateway, t.phone)
    with sessions(gateway)() as s:
        flags = s.scalars(select(CrisisFlag).where(CrisisFlag.pseudonym == who)).all()
        assert [(f.channel, f.language) for f in flags] == [("sms", lang)]
    words = text.split()[-3:]
    tracker_text = json.dumps(tracker(gateway, who))
    assert " ".join(words) not in tracker_text and " ".join(words) not in db_dump(gateway.stack.database_url)
    assert " ".join(words) not in gateway.log_text()


def test_a_crisis_from_an_opted_out_number_still_gets_help(gateway):
    t = texter(gateway)
    t.say("hi")
    t.say("STOP")
    assert "988" in t.say("i want to end my life")
    status, twiml = t.post(t.form("i need a job"))
    assert bodies(twiml) == [], "everything else stays silent"


def test_a_crisis_only_the_model_catches_is_flagged_too(gateway):
    from bot.safety import is_crisis

    text = "i have been thinking about ways to not exist anymore"
    t = texter(gateway)
    reply = t.say(text)
    if "988" not in reply:
        pytest.fail(f"the model did not take {text!r} for a crisis; pick a message it does")
    assert not is_crisis(text), "this message must be one the keywords miss"
    with sessions(gateway)() as s:
        assert s.scalars(select(CrisisFlag).where(CrisisFlag.pseudonym == sms_pseudonym(gateway, t.phone))).all()


def test_figures_of_speech_are_not_a_crisis(gateway):
    t = texter(gateway)
    reply = t.say("i'm killing it at work but dying to start a business")
    assert "988" not in reply
    with sessions(gateway)() as s:
        assert s.scalars(select(CrisisFlag).where(CrisisFlag.pseudonym == sms_pseudonym(gateway, t.phone))).all() == []


# --- PII out of the record --------------------------------------------------------------------

PII = {
    "phone": "317-555-0188",
    "email": "maria.lopez84@example.com",
    "ssn": "123-45-6789",
    "card": "4111 1111 1111 1111",
    "account": "000123456789",
    "address": "1200 Oak Street",
}


def test_personal_details_never_reach_rasa_the_database_or_the_logs(gateway):
    t = texter(gateway)
    t.say(f"hi my cell is {PII['phone']} and my email is {PII['email']}")
    t.say(f"i need a job, i live at {PII['address']} apt 4")
    answer_questions(t.say, t.say("47104"))
    t.say(f"my ssn is {PII['ssn']} and card {PII['card']}, bank account number {PII['account']}")
    t.say(f"mi correo es {PII['email']} y vivo en {PII['address']}")
    who = sms_pseudonym(gateway, t.phone)
    tracker_text = json.dumps(tracker(gateway, who))
    assert "[phone_number]" in tracker_text and "[street_address]" in tracker_text, "placeholders arrive"
    dump = db_dump(gateway.stack.database_url) + db_dump(gateway.stack.tracker_store_url)
    logs = gateway.log_text() + "".join(p.read_text(errors="replace") for p in
                                        (ROOT / "var" / "run").glob("*.log") if p.stat().st_size < 50_000_000)
    hits = {(kind, where) for kind, value in PII.items() for where, text in
            (("tracker", tracker_text), ("database", dump), ("logs", logs)) if value in text}
    hits |= {("sender phone", where) for leak in digits(t.phone) for where, text in
             (("tracker", tracker_text), ("database", dump), ("logs", gateway.log_text())) if leak in text}
    assert hits == set()


# --- retention ----------------------------------------------------------------------------------

def test_purge_removes_what_is_due_and_reports_it(gateway):
    t = texter(gateway)
    refer(t)
    who = sms_pseudonym(gateway, t.phone)
    fresh = texter(gateway)
    refer(fresh)
    old = utcnow() - timedelta(days=200)
    with sessions(gateway).begin() as s:
        s.execute(update(Resident).where(Resident.pseudonym == who).values(last_activity_at=old))
        s.execute(update(ReferralCase).where(ReferralCase.resident_pseudonym == who).values(updated_at=old))
        log_id = s.get(Resident, who).log_id
    env = {**os.environ, "DATABASE_URL": gateway.stack.database_url}
    out = subprocess.run([sys.executable, "-m", "referrals", "purge"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "purged what had no activity for 180 days" in out.stdout
    removed = {name: int(n) for n, name in re.findall(r"(\d+) (\w+)", out.stdout.split(":", 1)[1])}
    assert removed["residents"] >= 1 and removed["contact_vault"] >= 1 and removed["referral_cases"] >= 1
    with sessions(gateway)() as s:
        assert s.get(Resident, who) is None and s.get(ContactEntry, who) is None
        assert s.get(Resident, sms_pseudonym(gateway, fresh.phone)) is not None, "recent residents stay"
        assert s.scalars(select(ReferralLogEntry).where(ReferralLogEntry.resident_log_id == log_id)).all()
