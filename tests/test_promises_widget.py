"""Issue 10 in the real widget (headless Chromium, real gateway and stack): the web contact step is its own
message in the live log with the field focused, "I'd rather not" queues nothing, and "pick all that apply"
is a real multi-select whose answer is stored as several categories."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from referrals.db import make_engine, make_sessionmaker
from referrals.models import ReferralCase, ReferralLogEntry
from referrals.vault import pseudonym
from tests.test_widget_browser import (MISSING, CHROMIUM, browser, context, expect, focused,  # noqa: F401 (fixtures)
                                       stored_state, type_and_send, wait_reply)

import os

pytestmark = pytest.mark.skipif(not os.access(CHROMIUM, os.X_OK) and not os.environ.get("CI"), reason=MISSING)


def rows(gateway, who: str):
    engine = make_engine(gateway.stack.database_url)
    try:
        with make_sessionmaker(engine)() as s:
            cases = s.scalars(select(ReferralCase).where(ReferralCase.resident_pseudonym == who)).all()
            log = s.scalars(select(ReferralLogEntry).where(
                ReferralLogEntry.referral_id.in_([c.id for c in cases]))).all() if cases else []
            return cases, log
    finally:
        engine.dispose()


def to_the_contact_step(page) -> None:
    type_and_send(page, "i need a job")
    wait_reply(page, "ZIP code")
    type_and_send(page, "47104")
    wait_reply(page, "How old")
    page.get_by_role("button", name="25 to 54").click()
    wait_reply(page, "Pick one")
    page.locator("#chat-choices-list button").first.click()
    wait_reply(page, "reach you")


def test_contact_step_then_multi_select_race_question(gateway, context):
    page = context.new_page()
    page.goto(gateway.url)
    page.get_by_label("Your message").focus()
    to_the_contact_step(page)

    log = page.locator("#chat-log")
    assert log.get_attribute("aria-live") == "polite" and log.get_attribute("role") == "log"
    expect(log.locator(".msg-bot").last).to_contain_text("How can a caseworker from")
    expect(log).not_to_contain_text("reference is")
    assert focused(page)["id"] == "contact-input", "the field the question asks for has focus"
    expect(page.locator("#chat-choices")).to_be_hidden()  # its only choice is the field's own "I'd rather not"

    page.keyboard.type("(555) 010-6161")
    page.keyboard.press("Enter")
    wait_reply(page, "reference is")
    expect(page.locator("#contact-form")).to_be_hidden()
    assert "6161" not in log.inner_text()

    page.get_by_role("button", name="Yes").click()  # may we text you (a phone was given)
    wait_reply(page, "reports on who the city")
    page.get_by_role("button", name="Yes").click()
    wait_reply(page, "Pick all that apply.")
    boxes = page.get_by_role("checkbox")
    expect(boxes).to_have_count(7)
    page.get_by_role("button", name="Send my answers").click()
    expect(page.locator("#chat-status")).to_contain_text("check at least one box")
    page.get_by_role("checkbox", name="Asian").check()
    page.get_by_role("checkbox", name="White").check()
    page.get_by_role("button", name="Send my answers").click()
    wait_reply(page, "What is your gender?")
    expect(log.locator(".msg-you").last).to_contain_text("Asian, White")
    page.get_by_role("button", name="Woman").click()
    wait_reply(page, "Anything else?")

    who = pseudonym(gateway.env["PSEUDONYM_KEY"], "web", stored_state(page)["session"])
    cases, entries = rows(gateway, who)
    assert len(cases) == 1 and [(e.race_ethnicity, e.gender) for e in entries] == [("asian,white", "woman")]


def test_rather_not_give_a_contact_queues_nothing_and_says_how_to_call(gateway, context):
    page = context.new_page()
    page.goto(gateway.url)
    page.get_by_label("Your message").focus()
    to_the_contact_step(page)
    page.locator("#contact-skip").click()
    wait_reply(page, "nothing was sent")
    expect(page.locator("#chat-log .msg-bot").last).to_contain_text("(555) 010-")
    expect(page.locator("#contact-form")).to_be_hidden()
    who = pseudonym(gateway.env["PSEUDONYM_KEY"], "web", stored_state(page)["session"])
    assert rows(gateway, who) == ([], [])
