"""Live handoff in a real headless Chromium, both sides at once: a resident in the web chat widget asks for a
person; a caseworker signs in to the portal, takes the conversation from the live queue and answers; the
answer appears in the widget without the resident doing anything (the widget's long poll); the resident's
reply appears in the caseworker's thread without a reload; closing hands the resident back to the assistant.

Real gateway, Rasa, action server, database (SQLite and PostgreSQL) and portal; Debian's chromium driven by
Playwright (skipped without /usr/bin/chromium unless CI is set, like tests/test_widget_browser.py).
"""

from __future__ import annotations

import re

from tests.test_live_handoff import Desk, desk  # noqa: F401  (desk is a fixture)
from tests.test_widget_browser import REPLY_MS, browser, expect, pytestmark, wait_reply  # noqa: F401


def type_and_send(page, text: str) -> None:
    page.fill("#chat-input", text)
    page.press("#chat-input", "Enter")


def sign_in(page, desk: Desk, username: str) -> None:
    page.goto(desk.portal_url + "/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", "correct horse battery staple")
    page.click("button[type=submit]:has-text('Sign in')")
    page.wait_for_url(re.compile(r"/login/mfa$"))
    page.fill("#code", desk.code(username))
    page.click("button[type=submit]:has-text('Continue')")
    page.wait_for_url(re.compile(r"/queue$"))


def test_a_caseworker_answers_a_web_resident_live_in_two_browsers(desk: Desk, browser):  # noqa: F811
    resident = browser.new_context(viewport={"width": 390, "height": 800})
    staff = browser.new_context(viewport={"width": 1280, "height": 900})
    for ctx in (resident, staff):
        ctx.set_default_timeout(REPLY_MS)
    chat = resident.new_page()
    polls = []
    chat.on("request", lambda r: polls.append(r) if "/chat/live" in r.url else None)
    chat.goto(desk.gateway.url)
    type_and_send(chat, "hi")
    wait_reply(chat, "automated assistant")
    chat.click("#chat-choices-list button:has-text('Talk to a person')")
    wait_reply(chat, f"getting you a person from {desk.team}")
    type_and_send(chat, "my hours got cut and rent is due")

    portal = staff.new_page()
    outside = []
    portal.on("request", lambda r: None if r.url.startswith(desk.portal_url) else outside.append(r.url))
    refreshes = []
    portal.on("request", lambda r: refreshes.append(r) if r.resource_type == "fetch" else None)
    sign_in(portal, desk, "ana")
    portal.click("a:has-text('Live')")
    portal.wait_for_url(re.compile(r"/live$"))
    row = portal.locator("tr[data-live]").filter(has_text="web chat").last
    expect(row).to_contain_text("waiting")
    assert "my hours got cut" not in portal.content(), "the queue shows a summary, not what was written"
    row.locator("button:has-text('Take')").click()
    portal.wait_for_url(re.compile(r"/live/[0-9a-f-]{36}$"))
    expect(portal.locator("ol.thread")).to_contain_text("my hours got cut and rent is due")

    # The resident does nothing: the widget's long poll brings the answers in.
    expect(chat.locator("#chat-log")).to_contain_text("You're now chatting with a person")
    portal.fill("#message", "Hi, I'm Ana. How much is the rent, and when is it due?")
    portal.click("button:has-text('Send')")
    expect(chat.locator("#chat-log")).to_contain_text("How much is the rent, and when is it due?")
    chat.reload()  # reloaded while a person has it: the widget goes on polling, and shows nothing twice
    portal.fill("#message", "Are you still there?")
    portal.click("button:has-text('Send')")
    expect(chat.locator("#chat-log")).to_contain_text("Are you still there?")
    assert chat.locator("#chat-log").inner_text().count("How much is the rent") == 1

    portal.fill("#message", "Let me check what we have")  # typing when the reply comes in
    type_and_send(chat, "950, on the 1st")
    expect(portal.locator("ol.thread")).to_contain_text("950, on the 1st", timeout=15_000)  # no reload
    assert portal.input_value("#message") == "Let me check what we have", "what staff typed is kept"

    portal.click("button:has-text('Close and hand back to the assistant')")
    portal.wait_for_url(re.compile(r"/live$"))
    expect(chat.locator("#chat-log")).to_contain_text("back with the city's automated assistant")
    type_and_send(chat, "hi")
    wait_reply(chat, "What do you need")
    assert outside == [], "the portal loads nothing from outside"
    # The thread's own refresh is marked, so that it does not hold off the idle sign-out.
    assert refreshes and all(r.headers.get("x-background-refresh") == "1" for r in refreshes)
    # The session id is the resident's key to the chat: in a header, never in a URL a proxy would log.
    assert polls and all("session" not in r.url and r.headers.get("x-chat-session") for r in polls)
    resident.close()
    staff.close()
