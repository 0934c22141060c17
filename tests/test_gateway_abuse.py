"""The gateway under abuse (ASVS V4.2.2, V5.1, V11.1.4, V13.2): opt-out before any notice, rate limits per
address, web session and number, server-issued session ids, payload strings on SMS, webhook replays.

Each test starts its own gateway process (a few seconds) with small limits against the shared stack, so
the shared gateway other tests use keeps its full budget.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import aiohttp
import pytest
from twilio.request_validator import RequestValidator

from referrals.db import make_sessionmaker
from referrals.models import InboundMessage, utcnow
from referrals.privacy import purge_expired
from referrals.vault import pseudonym
from tests.chat import Texter, bodies
from tests.conftest import TWILIO_TEST_TOKEN, start_gateway, stop_gateway

SLOW_DOWN = "sending messages too fast"


@pytest.fixture
def own_gateway(stack):
    """start(**limits): a gateway process of this test's own; stopped at the end."""
    started = []

    def start(**env: str):
        gw = start_gateway(stack, env, log_name="gateway-abuse")
        started.append(gw)
        return gw

    yield start
    for gw in started:
        stop_gateway(gw)


def chat(gw, session, message, path: str = "/chat", **extra) -> tuple[int, dict, dict]:
    async def go():
        async with aiohttp.ClientSession() as s:
            async with s.post(gw.url + path, json={"session": session, "message": message, **extra}) as resp:
                return resp.status, await resp.json(content_type=None), dict(resp.headers)
    return asyncio.run(go())


def many(gw, n: int, payload_for) -> list[tuple[int, dict]]:
    async def go():
        async with aiohttp.ClientSession() as s:
            async def one(i):
                async with s.post(gw.url + "/chat", json=payload_for(i)) as resp:
                    return resp.status, await resp.json(content_type=None)
            return await asyncio.gather(*(one(i) for i in range(n)))
    return asyncio.run(go())


def rasa_user_texts(gw, who: str) -> list[str]:
    async def go():
        async with aiohttp.ClientSession() as s:
            async with s.get(f"{gw.stack.rasa_url}/conversations/{who}/tracker",
                             params={"token": gw.stack.token}) as resp:
                return await resp.json()
    return [e.get("text") or "" for e in asyncio.run(go()).get("events") or [] if e.get("event") == "user"]


# --- opt-out first --------------------------------------------------------------------------------

def test_no_notice_reaches_a_number_that_texted_stop(gateway):
    t = Texter(gateway.url, TWILIO_TEST_TOKEN)
    assert "unsubscribed" in t.say("STOP")
    for body, extra in (("", {"NumMedia": "1", "MediaUrl0": "https://api.twilio.com/x.jpg"}),  # picture only
                        ("   ", {}),  # empty
                        ("I need a job " * 200, {})):  # too long
        status, twiml = t.post(t.form(body, **extra))
        assert status == 200 and bodies(twiml) == [], (body[:20], twiml)
    assert "again" in t.say("START").lower()
    assert t.say("   "), "after START the notices come back"


# --- rate limits ----------------------------------------------------------------------------------

def test_a_burst_of_new_web_conversations_is_refused_with_429_and_a_clear_message(own_gateway):
    gw = own_gateway()  # the default limits
    results = many(gw, 150, lambda i: {"session": None, "message": " "})
    accepted = [b for s, b in results if s == 200]
    refused = [b for s, b in results if s == 429]
    assert len(accepted) == 60 and len(refused) == 90, (len(accepted), len(refused))
    assert all(SLOW_DOWN in b["error"] for b in refused)
    # A conversation already under way goes on.
    status, body, _ = chat(gw, accepted[0]["session"], " ")
    assert status == 200 and body["session"] == accepted[0]["session"]


def test_requests_per_address_are_limited_on_chat_and_contact(own_gateway):
    gw = own_gateway(RATE_LIMIT_ADDRESS="6/600")
    session = chat(gw, None, " ")[1]["session"]
    for _ in range(5):
        assert chat(gw, session, " ")[0] == 200
    status, body, headers = chat(gw, session, " ")
    assert status == 429 and SLOW_DOWN in body["error"] and int(headers["Retry-After"]) > 0
    status, body, _ = chat(gw, session, None, path="/chat/contact", contact="555-010-2000")
    assert status == 429


def test_messages_per_web_session_are_limited(own_gateway):
    gw = own_gateway(RATE_LIMIT_SESSION="3/600")
    session = chat(gw, None, " ")[1]["session"]
    assert [chat(gw, session, " ")[0] for _ in range(2)] == [200, 200]
    status, body, _ = chat(gw, session, " ")
    assert status == 429 and SLOW_DOWN in body["error"] and body["session"] == session
    assert chat(gw, None, " ")[0] == 200, "another conversation is not held back"


def test_texts_per_number_are_limited_without_ever_answering_twilio_429(own_gateway):
    gw = own_gateway(RATE_LIMIT_NUMBER="3/600")
    t = Texter(gw.url, TWILIO_TEST_TOKEN)
    for _ in range(3):
        assert t.say("   "), "a notice"
    first_over = t.form("   ")
    status, twiml = t.post(first_over)
    assert status == 200 and SLOW_DOWN in " ".join(bodies(twiml))
    answered = bodies(twiml)
    status, twiml = t.post(first_over)  # Twilio retrying the same message: the same answer, not a new one
    assert status == 200 and bodies(twiml) == answered
    status, twiml = t.post(t.form("i need a job"))
    assert status == 200 and bodies(twiml) == [], "after the one 'slow down' text: silence, still 200"
    other = Texter(gw.url, TWILIO_TEST_TOKEN)
    assert "zip code" in other.say("i need a job").lower(), "another number is not held back"


def test_an_address_that_keeps_failing_the_signature_gets_429_but_twilio_still_gets_through(own_gateway):
    gw = own_gateway(RATE_LIMIT_ADDRESS="4/600")
    t = Texter(gw.url, TWILIO_TEST_TOKEN)
    statuses = [t.post(t.form("hi"), signature="forged")[0] for _ in range(6)]
    assert statuses == [403] * 4 + [429] * 2
    status, twiml = t.post(t.form("i need a job"))
    assert status == 200 and "zip code" in " ".join(bodies(twiml)).lower()


# --- session ids, payload strings, replays, multipart -----------------------------------------------

def test_web_session_ids_are_issued_and_signed_by_the_gateway(own_gateway):
    gw = own_gateway()
    made_up = "A" * 24 + "." + "B" * 22
    status, body, _ = chat(gw, made_up, "i need a job")
    assert status == 200 and body["session"] != made_up, "a session id the client invented is not used"
    issued = body["session"]
    assert rasa_user_texts(gw, pseudonym(gw.env["PSEUDONYM_KEY"], "web", made_up)) == []
    # The issued id carries the conversation on; a tampered copy of it does not.
    status, body, _ = chat(gw, issued, "47104")
    assert status == 200 and body["session"] == issued
    tampered = issued[:-1] + ("A" if issued[-1] != "A" else "B")
    status, body, _ = chat(gw, tampered, "hi")
    assert body["session"] not in (tampered, issued)
    assert rasa_user_texts(gw, pseudonym(gw.env["PSEUDONYM_KEY"], "web", issued)) == ["i need a job", "47104"]
    status, body, _ = chat(gw, made_up, None, path="/chat/contact", contact="555-010-2000")
    assert status == 400


def test_payload_strings_on_sms_are_words_as_on_the_web(gateway):
    t = Texter(gateway.url, TWILIO_TEST_TOKEN)
    who = pseudonym(gateway.env["PSEUDONYM_KEY"], "sms", t.phone)
    t.say('/inform{"choice":"1","referral_id":"x"}')
    t.say("/human")  # a choice on the menu just shown, but an SMS shows numbers, never payloads
    texts = rasa_user_texts(gateway, who)
    assert texts and not any(text.startswith("/") for text in texts), texts
    # A numbered reply is still a choice of what was shown (its payload is what Rasa gets).
    other = Texter(gateway.url, TWILIO_TEST_TOKEN)
    assert "Reply with a number" in other.say("hi")
    assert "zip code" in other.say("1").lower()
    texts = rasa_user_texts(gateway, pseudonym(gateway.env["PSEUDONYM_KEY"], "sms", other.phone))
    assert texts[-1].startswith("/"), "the shown choice went through as its payload"


def test_message_sids_are_kept_90_days_so_captured_webhooks_cannot_be_replayed(engine):
    now = utcnow()
    with make_sessionmaker(engine).begin() as s:
        s.add_all([InboundMessage(message_sid="SM30", received_at=now - timedelta(days=30)),
                   InboundMessage(message_sid="SM89", received_at=now - timedelta(days=89)),
                   InboundMessage(message_sid="SM91", received_at=now - timedelta(days=91))])
    with make_sessionmaker(engine).begin() as s:
        purge_expired(s, days=180, now=now)
    with make_sessionmaker(engine)() as s:
        assert sorted(m.message_sid for m in s.query(InboundMessage)) == ["SM30", "SM89"]


def test_a_multipart_sms_webhook_with_a_file_part_gets_403(gateway):
    t = Texter(gateway.url, TWILIO_TEST_TOKEN)
    fields = t.form("i need a job")
    signature = RequestValidator(TWILIO_TEST_TOKEN).compute_signature(gateway.url + "/sms", fields)

    async def go(with_file: bool):
        data = aiohttp.FormData()
        for k, v in fields.items():
            data.add_field(k, v)
        if with_file:
            data.add_field("Media", b"\x89PNG\r\n" + uuid.uuid4().bytes, filename="x.png", content_type="image/png")
        else:
            data.add_field("x", "y", content_type="text/plain")  # forces multipart without a file
        async with aiohttp.ClientSession() as s:
            async with s.post(gateway.url + "/sms", data=data, headers={"X-Twilio-Signature": signature}) as r:
                return r.status, await r.text()

    for with_file in (True, False):
        status, answer = asyncio.run(go(with_file))
        assert status == 403, (status, answer)
