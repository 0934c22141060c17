"""The web chat endpoint over HTTP, through the real gateway and stack (the browser test drives the widget)."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest
from sqlalchemy import select

from referrals.db import make_engine, make_sessionmaker
from referrals.models import ContactEntry, ReferralCase
from referrals.vault import Vault, pseudonym


def post(gateway, path: str, payload=None, raw: bytes | None = None,
         content_type: str = "application/json") -> tuple[int, dict, dict]:
    async def go():
        async with aiohttp.ClientSession() as s:
            kwargs = {"data": raw, "headers": {"Content-Type": content_type}} if raw is not None else {"json": payload}
            async with s.post(gateway.url + path, **kwargs) as resp:
                return resp.status, await resp.json(content_type=None), dict(resp.headers)
    return asyncio.run(go())


class Visitor:
    def __init__(self, gateway):
        self.gateway, self.session = gateway, None

    def say(self, message: str) -> dict:
        status, body, _ = post(self.gateway, "/chat", {"session": self.session, "message": message})
        assert status == 200, body
        self.session = body["session"]
        return body

    def choose(self, body: dict, words: str) -> dict:
        """Click the button whose title contains `words`: its payload is sent, as the widget does."""
        for m in body["messages"]:
            for b in m["buttons"]:
                if words.lower() in b["title"].lower():
                    return self.say(b["payload"])
        raise AssertionError(f"no button {words!r} in {body}")


def text(body: dict) -> str:
    return "\n".join(m["text"] for m in body["messages"])


def test_web_conversation_with_buttons_reaches_a_referral_and_seals_the_contact(gateway):
    v = Visitor(gateway)
    first = v.say("hi")
    assert v.session and len(v.session) >= 16
    assert any(m["buttons"] for m in first["messages"]), "the web shows buttons, not numbered text"
    assert "Reply with a number" not in text(first)
    body = v.choose(first, "my business")
    assert "zip code" in text(body).lower()
    body = v.say("47103")
    for _ in range(4):  # the questions this need asks, each answered with its first button
        if "2 business days" in text(body):
            break
        body = v.choose(body, body["messages"][-1]["buttons"][0]["title"])
    assert "2 business days" in text(body), body
    assert body["ask_contact"] is False
    body = v.choose(body, body["messages"][-1]["buttons"][0]["title"])
    # The web has no number: the contact is asked for before anything is confirmed (issue 10).
    assert body["ask_contact"] is True and "reach you" in text(body) and "reference" not in text(body), body

    status, saved, _ = post(gateway, "/chat/contact", {"session": v.session, "contact": "not a phone"})
    assert status == 422 and "phone number" in saved["error"]
    status, saved, _ = post(gateway, "/chat/contact", {"session": v.session, "contact": "(555) 010-7788"})
    assert status == 200 and saved["ok"] and "reference is" in text(saved) and saved["ask_contact"] is False

    who = pseudonym(gateway.env["PSEUDONYM_KEY"], "web", v.session)
    engine = make_engine(gateway.stack.database_url)
    try:
        with make_sessionmaker(engine)() as s:
            case = s.scalars(select(ReferralCase).where(ReferralCase.resident_pseudonym == who)).one()
            assert (case.need, case.channel) == ("small_business", "web")
            entry = s.get(ContactEntry, who)
            assert entry.kind == "phone" and "7788" not in entry.ciphertext
            assert Vault(gateway.env["VAULT_KEY"]).open(entry.ciphertext) == "+15550107788"
    finally:
        engine.dispose()


def test_contact_without_a_referral_is_refused(gateway):
    v = Visitor(gateway)
    v.say("hello")
    status, body, _ = post(gateway, "/chat/contact", {"session": v.session, "contact": "someone@example.org"})
    assert status == 409 and "no referral" in body["error"].lower()


def test_a_forged_payload_is_read_as_words_not_as_an_intent(gateway):
    v = Visitor(gateway)
    v.say("hello")
    body = v.say('/inform{"choice":"1"}')  # no such button on screen
    assert "caseworker from" not in text(body)


@pytest.mark.parametrize("payload, raw, ctype, status, expect", [
    (None, b"{not json", "application/json", 400, "JSON"),
    (None, b"\xff\xfe\x00binary", "application/json", 400, "JSON"),
    (None, b"[" * 7000 + b"]" * 7000, "application/json", 400, "JSON"),  # nesting deep enough to recurse
    ([1, 2], None, None, 400, "object"),
    ({"session": None}, None, None, 400, "message"),
    ({"session": None, "message": 42}, None, None, 400, "message"),
    ({"session": None, "message": "a" * 1601}, None, None, 413, "too long"),
    (None, b'{"message": "' + b"a" * 20000 + b'"}', "application/json", 413, "too large"),
])
def test_bad_web_requests_get_clear_errors(gateway, payload, raw, ctype, status, expect):
    got, body, _ = post(gateway, "/chat", payload, raw=raw, content_type=ctype or "application/json")
    assert got == status
    assert expect.lower() in body["error"].lower()


@pytest.mark.parametrize("message", ["", "   ", "\x00\x00", "\U0001f44b\U0001f44b", "<img src=x onerror=alert(1)>"])
def test_odd_web_messages_get_an_answer(gateway, message):
    status, body, headers = post(gateway, "/chat", {"session": None, "message": message})
    assert status == 200 and body["messages"] and all(m["text"] for m in body["messages"])
    assert "onerror" not in text(body)
    assert "default-src 'self'" in headers["Content-Security-Policy"]


def test_page_and_health(gateway):
    async def go():
        async with aiohttp.ClientSession() as s:
            async with s.get(gateway.url + "/") as page, s.get(gateway.url + "/healthz") as health:
                return page.status, page.headers, await page.text(), await health.json()
    status, headers, html, health = asyncio.run(go())
    assert status == 200 and "text/html" in headers["Content-Type"]
    assert headers["Cache-Control"] == "no-store" and "nosniff" in headers["X-Content-Type-Options"]
    assert "<script" in html and "http://" not in html.replace(gateway.url, "") and "https://" not in html
    assert health == {"gateway": "ok", "rasa": "ok", "actions": "ok", "database": "ok", "conversations": "ok",
                      "sms": "enabled", "status": "ok"}
