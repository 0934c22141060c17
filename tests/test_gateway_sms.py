"""Texting the city's number: signed Twilio webhooks through the real gateway process, in front of the
real Rasa server (trained model), the real action server and a real database (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import json
import re

import aiohttp
import pytest
from sqlalchemy import MetaData, select
from twilio.request_validator import RequestValidator

from bot.sms import MAX_CHARS, segments
from referrals.db import make_engine, make_sessionmaker
from referrals.models import ContactEntry, ReferralCase
from referrals.vault import Vault, pseudonym
from tests.chat import Texter, answer_questions, bodies, pick
from tests.conftest import TWILIO_TEST_TOKEN, start_gateway, stop_gateway


def texter(gateway) -> Texter:
    return Texter(gateway.url, TWILIO_TEST_TOKEN)


def db_dump(url: str) -> str:
    """Every row of every table, as text: what a scan for personal data reads."""
    engine = make_engine(url)
    try:
        meta = MetaData()
        meta.reflect(engine)
        with engine.connect() as conn:
            return "\n".join(repr(tuple(row)) for table in meta.sorted_tables
                             for row in conn.execute(table.select()))
    finally:
        engine.dispose()


def tracker(gateway, sender: str) -> dict:
    async def go():
        async with aiohttp.ClientSession() as s:
            async with s.get(f"{gateway.stack.rasa_url}/conversations/{sender}/tracker",
                             params={"token": gateway.stack.token}) as resp:
                return await resp.json()
    return asyncio.run(go())


def user_turns(gateway, sender: str) -> int:
    return sum(1 for e in tracker(gateway, sender).get("events") or [] if e.get("event") == "user")


def sms_pseudonym(gateway, phone: str) -> str:
    return pseudonym(gateway.env["PSEUDONYM_KEY"], "sms", phone)


def digits(phone: str) -> list[str]:
    """The ways a number could leak: +1555..., 555..., and the last 7 digits."""
    d = re.sub(r"\D", "", phone)
    return [phone, d, d[1:], d[-7:]]


def assert_fits_sms(twiml: str) -> None:
    for body in bodies(twiml):
        assert 0 < len(body) <= MAX_CHARS
        assert segments(body).segments <= 11


# --- complete conversations -----------------------------------------------------------------

def test_english_sms_conversation_reaches_a_stored_referral_without_the_number_leaking(gateway):
    t = texter(gateway)
    greeting = t.say("hi")
    assert "automated assistant" in greeting.lower()
    assert re.search(r"Reply with a number:\n1\) ", greeting), "the need menu is numbered on SMS"
    reply = t.say("i need a job, got laid off")
    assert "zip code or neighborhood" in reply.lower(), t.show()
    reply = answer_questions(t.say, t.say("47104"))
    assert "2 business days" in reply, t.show()
    reply = t.say("1")
    assert "caseworker from" in reply and "reference is" in reply, t.show()
    for _, r in t.transcript:
        assert "pick one of the options" not in r, "no complaint about an answer nobody gave"
        assert all(ord(c) < 0x2000 for c in r), "no emoji or curly quotes on SMS"
        for body in r.split("\n\n"):
            assert segments(body).encoding == "GSM-7", body

    who = sms_pseudonym(gateway, t.phone)
    engine = make_engine(gateway.stack.database_url)
    try:
        with make_sessionmaker(engine)() as s:
            cases = s.scalars(select(ReferralCase).where(ReferralCase.resident_pseudonym == who)).all()
            assert [(c.need, c.channel, c.language) for c in cases] == [("employment", "sms", "en")]
            entry = s.get(ContactEntry, who)
            assert entry is not None and entry.kind == "sms"
            assert Vault(gateway.env["VAULT_KEY"]).open(entry.ciphertext) == t.phone
    finally:
        engine.dispose()

    dump = db_dump(gateway.stack.database_url)
    conversations = db_dump(gateway.stack.tracker_store_url)  # Rasa's SQL tracker store, every row
    assert who in conversations, "the scan reads the conversation store"
    tracker_text = json.dumps(tracker(gateway, who))
    for leak in digits(t.phone):
        assert leak not in dump, "the number is stored only encrypted"
        assert leak not in conversations, "nor in Rasa's conversation store"
        assert leak not in tracker_text, "Rasa never sees the number"
        assert leak not in gateway.log_text(), "logs never hold the number"
    assert "laid off" not in gateway.log_text(), "logs never hold message text"


def test_spanish_sms_conversation_reaches_a_stored_referral(gateway):
    t = texter(gateway)
    reply = t.say("hola necesito ayuda para pagar la renta este mes")
    assert "codigo postal" in reply.lower(), t.show()
    reply = answer_questions(t.say, t.say("47102"))
    assert "2 dias habiles" in reply, t.show()
    assert "Responda 1" in reply, "the programs listed are referred to by number"
    reply = t.say("uno")
    assert "referencia" in reply.lower(), t.show()
    who = sms_pseudonym(gateway, t.phone)
    engine = make_engine(gateway.stack.database_url)
    try:
        with make_sessionmaker(engine)() as s:
            case = s.scalars(select(ReferralCase).where(ReferralCase.resident_pseudonym == who)).one()
            assert (case.need, case.language, case.channel) == ("basic_needs", "es", "sms")
            assert s.get(ContactEntry, who) is not None
    finally:
        engine.dispose()


def test_numbered_choices_accept_a_number_a_word_or_the_title(gateway):
    for answer in ("2", "two", "training"):
        t = texter(gateway)
        menu = t.say("hello")
        assert pick(menu, "training") == "2", menu
        reply = t.say(answer)
        assert "zip code or neighborhood" in reply.lower(), (answer, t.show())


def test_a_conversation_without_consent_stores_no_number(gateway):
    t = texter(gateway)
    t.say("i want to start saving money")
    reply = answer_questions(t.say, t.say("47101"))
    reply = t.say(pick(reply, "no thanks"))
    dump = db_dump(gateway.stack.database_url)
    assert sms_pseudonym(gateway, t.phone) not in dump
    assert all(leak not in dump for leak in digits(t.phone))


# --- the webhook's gate -----------------------------------------------------------------------

def test_unsigned_and_tampered_requests_get_403_and_never_reach_rasa(gateway):
    t = texter(gateway)
    form = t.form("i need a job")
    assert t.post(form, signature="")[0] == 403
    assert t.post(form, signature="bm90IGEgc2lnbmF0dXJl")[0] == 403
    signed = RequestValidator(TWILIO_TEST_TOKEN).compute_signature(gateway.url + "/sms", form)
    tampered = dict(form, Body="i need rent money")
    assert t.post(tampered, signature=signed)[0] == 403, "a changed body breaks the signature"
    assert t.post(form, url="https://attacker.example/sms")[0] == 403, "signed for another URL"
    wrong_key = RequestValidator("another-account-token").compute_signature(gateway.url + "/sms", form)
    assert t.post(form, signature=wrong_key)[0] == 403
    assert user_turns(gateway, sms_pseudonym(gateway, t.phone)) == 0
    assert '"why": "bad_signature"' in gateway.log_text()


def test_a_retried_message_sid_is_answered_once(gateway):
    t = texter(gateway)
    form = t.form("hi")
    first = t.post(form)
    again = t.post(form)
    assert first[0] == again[0] == 200
    assert bodies(first[1]) and bodies(again[1]) == bodies(first[1]), "Twilio retries when it missed the answer"
    assert user_turns(gateway, sms_pseudonym(gateway, t.phone)) == 1


@pytest.mark.parametrize("body, extra, expect", [
    ("", {"NumMedia": "1", "MediaUrl0": "https://api.twilio.com/x.jpg", "MediaContentType0": "image/jpeg"},
     "only read text"),
    ("", {}, "didn't get any words"),
    ("   \n\t ", {}, "didn't get any words"),
    ("\x00\x01\x02\x7f", {}, "didn't get any words"),
    ("x" * 1601, {}, "too long"),
])
def test_bad_input_gets_a_polite_sms_reply(gateway, body, extra, expect):
    t = texter(gateway)
    status, twiml = t.post(t.form(body, **extra))
    assert status == 200
    assert expect in " ".join(bodies(twiml))
    assert_fits_sms(twiml)


@pytest.mark.parametrize("body", ["\U0001f600\U0001f64f\U0001f4b8", "<script>alert(1)</script>",
                                  "'; DROP TABLE referral_cases; --", "\u0645\u0631\u062d\u0628\u0627",
                                  "{{7*7}} ${jndi:ldap://x}", "a" * 1600])
def test_odd_input_gets_a_clear_answer_never_a_500(gateway, body):
    t = texter(gateway)
    status, twiml = t.post(t.form(body))
    assert status == 200
    replies = bodies(twiml)
    assert replies and all(r.strip() for r in replies)
    assert "<script>" not in twiml and "49" not in " ".join(replies)
    assert_fits_sms(twiml)


def test_malformed_or_oversized_webhook_bodies_get_4xx(gateway):
    async def go():
        async with aiohttp.ClientSession() as s:
            big = await s.post(gateway.url + "/sms", data=b"Body=" + b"a" * 100_000,
                               headers={"Content-Type": "application/x-www-form-urlencoded",
                                        "X-Twilio-Signature": "x"})
            binary = await s.post(gateway.url + "/sms", data=bytes(range(256)) * 4,
                                  headers={"Content-Type": "application/x-www-form-urlencoded",
                                           "X-Twilio-Signature": "x"})
            get = await s.get(gateway.url + "/sms")
            return big.status, binary.status, get.status
    big, binary, get = asyncio.run(go())
    assert big == 413
    assert binary in (400, 403)
    assert get == 405


# --- faults -------------------------------------------------------------------------------------

def test_without_a_twilio_token_the_webhook_refuses_everything_and_says_why(stack):
    gw = start_gateway(stack, {"TWILIO_AUTH_TOKEN": ""}, log_name="gateway-notoken")
    try:
        t = Texter(gw.url, TWILIO_TEST_TOKEN)
        status, text = t.post(t.form("hi"))
        assert status == 403 and "TWILIO_AUTH_TOKEN" in text
        assert "TWILIO_AUTH_TOKEN is not set" in gw.log_text()
    finally:
        stop_gateway(gw)


def test_behind_a_proxy_the_signature_is_checked_against_the_public_url(stack):
    public = "https://chat.riverbend.example/sms"
    gw = start_gateway(stack, {"PUBLIC_BASE_URL": "https://chat.riverbend.example"}, log_name="gateway-proxy")
    try:
        t = Texter(gw.url, TWILIO_TEST_TOKEN)
        assert t.post(t.form("hi"), url=public)[0] == 200
        assert t.post(t.form("hi"))[0] == 403, "the loopback URL is not what Twilio signed"
    finally:
        stop_gateway(gw)
