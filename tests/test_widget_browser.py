"""The web chat widget in a real headless Chromium, against the real gateway, Rasa, action server and
database (SQLite and PostgreSQL): what a resident at a keyboard, a screen reader user, a phone user and
the next person at a shared library computer would notice.

Chromium is Debian's `chromium` package (`.ci/run` installs it), driven by Playwright for Python without
Playwright's own browser download. Without /usr/bin/chromium these tests skip and say why, except when
the CI variable is set: then a missing browser is a failure.
"""

from __future__ import annotations

import json
import os
import re
import urllib.parse
import urllib.request

import pytest
from sqlalchemy import select

from referrals.db import make_engine, make_sessionmaker
from referrals.models import ContactEntry, ReferralCase
from referrals.vault import Vault, pseudonym

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
MISSING = (f"{CHROMIUM} not found: install Debian's chromium (`apt-get install -y chromium`) to run the "
           "browser tests; .ci/run does this and sets CI, which turns a missing browser into a failure")
REPLY_MS = 30_000  # one turn through Rasa; generous because the machine is shared
STORAGE_KEY = "riverbend-chat"
PHONE_TYPED, PHONE_DIGITS = "(555) 010-4477", "5550104477"

pytestmark = pytest.mark.skipif(not os.access(CHROMIUM, os.X_OK) and not os.environ.get("CI"), reason=MISSING)


@pytest.fixture(scope="module")
def browser():
    """One headless Chromium for the module; each test opens its own context (fresh session storage)."""
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(MISSING)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def context(browser):
    ctx = browser.new_context(viewport={"width": 1024, "height": 768})
    ctx.set_default_timeout(REPLY_MS)
    yield ctx
    ctx.close()


# --- helpers: what the resident sees and does ----------------------------------------------------------


def expect(locator):
    from playwright.sync_api import expect as pw_expect

    return pw_expect(locator)


def messages(page):
    return page.locator("#chat-log .msg")


def wait_reply(page, text: str) -> None:
    """The assistant's answer containing `text` is on screen and the widget is ready for the next turn."""
    expect(page.locator("#chat-log")).to_contain_text(text, timeout=REPLY_MS)
    expect(page.locator("#chat-send")).to_be_enabled(timeout=REPLY_MS)


def focused(page) -> dict:
    return page.evaluate("""() => {
        const el = document.activeElement;
        const list = document.getElementById('chat-choices-list');
        return {tag: el.tagName, id: el.id, text: (el.textContent || '').trim(),
                choice: list.contains(el) ? [...list.children].indexOf(el) : -1};
    }""")


def tab_to(page, wanted, limit: int = 15) -> dict:
    """Press Tab (only Tab) until the focused element is the one `wanted` recognizes."""
    seen = []
    for _ in range(limit):
        page.keyboard.press("Tab")
        now = focused(page)
        if wanted(now):
            return now
        seen.append(now["id"] or now["text"] or now["tag"])
    raise AssertionError(f"Tab never reached the control; focus went through {seen}")


def stored_state(page) -> dict | None:
    raw = page.evaluate(f"window.sessionStorage.getItem({STORAGE_KEY!r})")
    return json.loads(raw) if raw else None


def type_and_send(page, text: str) -> None:
    page.keyboard.type(text)
    page.keyboard.press("Enter")


def rasa_tracker_text(stack, sender: str) -> str:
    url = f"{stack.rasa_url}/conversations/{urllib.parse.quote(sender)}/tracker?token={stack.token}"
    with urllib.request.urlopen(url, timeout=10) as resp:
        return resp.read().decode()


# --- 1. a keyboard-only conversation to a stored referral -------------------------------------------------


def test_keyboard_only_conversation_reaches_a_referral_and_seals_the_contact(gateway, context):
    page = context.new_page()
    page.goto(gateway.url)

    assert tab_to(page, lambda f: f["text"] == "Skip to the chat", limit=2)
    page.keyboard.press("Enter")
    assert focused(page)["id"] == "chat-input", "the skip link lands in the message box"

    type_and_send(page, "hi")
    wait_reply(page, "automated assistant")
    assert focused(page)["id"] == "chat-input", "after sending, the resident can type again at once"
    assert messages(page).first.inner_text().strip().endswith("hi")

    tab_to(page, lambda f: f["tag"] == "BUTTON" and f["text"] == "A job")
    page.keyboard.press("Enter")
    wait_reply(page, "ZIP code")
    expect(page.locator("#chat-log .msg-you").last).to_contain_text("A job")
    assert focused(page)["id"] == "chat-input", "a choice made with the keyboard returns focus to the box"

    type_and_send(page, "47104")
    wait_reply(page, "How old")
    tab_to(page, lambda f: f["tag"] == "BUTTON" and f["text"] == "25 to 54")
    page.keyboard.press(" ")  # Space chooses too
    wait_reply(page, "Pick one")

    first = tab_to(page, lambda f: f["tag"] == "BUTTON" and f["choice"] == 0)
    program = first["text"]
    assert program and program != "No thanks"
    page.keyboard.press("Enter")
    # Before anything is confirmed, the assistant asks how to reach the resident, as its own message,
    # and the contact field takes focus (issue 10).
    wait_reply(page, "reach you")
    expect(page.locator("#chat-log")).not_to_contain_text("reference is")
    contact_form = page.locator("#contact-form")
    expect(contact_form).to_be_visible()
    expect(page.get_by_label("How can a caseworker reach you? Phone number or email")).to_be_visible()
    assert focused(page)["id"] == "contact-input", "the contact field takes focus when it is asked for"
    type_and_send(page, "call me at the library")
    expect(page.locator("#contact-error")).to_contain_text("10 digits")  # the gateway's 422, shown as is
    assert focused(page)["id"] == "contact-input", "the resident can correct it right there"
    page.keyboard.press("Control+A")
    type_and_send(page, PHONE_TYPED)
    wait_reply(page, "reference is")
    expect(page.locator("#chat-log")).to_contain_text(program)
    expect(contact_form).to_be_hidden()

    transcript = page.locator("#chat-log").inner_text()
    assert "4477" not in transcript, "the contact is never part of the chat transcript"
    state = stored_state(page)
    assert "4477" not in json.dumps(state), "nor of what the tab keeps"
    assert state["askContact"] is False

    who = pseudonym(gateway.env["PSEUDONYM_KEY"], "web", state["session"])
    engine = make_engine(gateway.stack.database_url)
    try:
        with make_sessionmaker(engine)() as session:
            cases = session.scalars(select(ReferralCase).where(ReferralCase.resident_pseudonym == who)).all()
            vault = session.get(ContactEntry, who)
    finally:
        engine.dispose()
    assert [(c.program_name, c.need, c.channel, c.age_band) for c in cases] == [
        (program, "employment", "web", "25_54")]
    assert vault is not None and vault.kind == "phone"
    assert PHONE_DIGITS not in vault.ciphertext and "010-4477" not in vault.ciphertext
    assert Vault(gateway.env["VAULT_KEY"]).open(vault.ciphertext) == "+1" + PHONE_DIGITS

    tracker = rasa_tracker_text(gateway.stack, who)
    # "4477" as a group of its own: the model's confidences are long floats that may hold those digits.
    assert "reference" in tracker.lower() and PHONE_DIGITS not in tracker \
        and not re.search(r"(?<![\d.])4477(?!\d)", tracker), "the contact never reaches Rasa"
    assert PHONE_DIGITS not in gateway.log_text() and "010-4477" not in gateway.log_text()


# --- 2. session storage only: reload keeps it, a new tab or browser does not, Start over clears it -----------


def test_reload_keeps_the_conversation_but_a_new_tab_or_browser_and_start_over_do_not(gateway, browser, context):
    page = context.new_page()
    page.goto(gateway.url)
    page.get_by_label("Your message").fill("i need a job")
    page.get_by_label("Your message").press("Enter")
    wait_reply(page, "ZIP code")
    first_session = stored_state(page)["session"]
    before = messages(page).all_inner_texts()

    page.reload()
    assert messages(page).all_inner_texts() == before
    page.get_by_label("Your message").fill("47104")
    page.get_by_label("Your message").press("Enter")
    wait_reply(page, "How old")
    assert stored_state(page)["session"] == first_session, "the same conversation goes on after a reload"
    page.reload()
    expect(page.get_by_role("button", name="25 to 54")).to_be_visible()  # the open question's choices too

    other_browser = browser.new_context()  # as after closing the browser: a new session
    try:
        for fresh in (context.new_page(), other_browser.new_page()):  # a new tab; a new browser
            fresh.goto(gateway.url)
            expect(fresh.locator("#chat-log")).to_be_empty()
            assert stored_state(fresh) is None
            seen = fresh.locator("body").inner_text()
            assert "47104" not in seen and "ZIP code" not in seen and "How old" not in seen
            fresh.close()
    finally:
        other_browser.close()

    assert context.cookies() == [], "no cookies"
    assert page.evaluate("window.localStorage.length") == 0, "nothing in local storage"

    page.get_by_role("button", name="Start over").click()
    expect(messages(page)).to_have_count(0)
    expect(page.get_by_role("button", name="25 to 54")).to_have_count(0)
    expect(page.locator("#chat-status")).to_have_text("New conversation started.")
    assert stored_state(page) is None
    assert focused(page)["id"] == "chat-input"
    page.reload()
    expect(messages(page)).to_have_count(0)

    page.get_by_label("Your message").fill("hi")
    page.get_by_label("Your message").press("Enter")
    wait_reply(page, "automated assistant")
    assert stored_state(page)["session"] not in (None, first_session), "Start over began a new conversation"

    page.get_by_label("Your message").fill("DELETE")
    page.get_by_label("Your message").press("Enter")
    wait_reply(page, "deleted")
    expect(messages(page)).to_have_count(1)  # only the confirmation: the tab forgot the conversation too
    assert "automated assistant" not in page.locator("#chat-log").inner_text()
    assert stored_state(page) is None


# --- 3. accessibility basics, the page's requests, and what the resident sees while waiting or offline --------


def test_accessible_markup_focus_and_only_our_own_requests(gateway, context):
    page = context.new_page()
    requests, problems = [], []
    page.on("request", lambda r: requests.append(r.url))
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    response = page.goto(gateway.url)
    assert "default-src 'self'" in response.headers["content-security-policy"]

    assert page.get_attribute("html", "lang") == "en"
    assert "Riverbend" in page.title()
    assert "width=device-width" in page.get_attribute("meta[name=viewport]", "content")
    assert page.locator("script:not([src]), style, [style]").count() == 0, "nothing inline (the CSP forbids it)"

    log = page.locator("#chat-log")
    expect(log).to_have_attribute("role", "log")
    expect(log).to_have_attribute("aria-live", "polite")
    expect(page.get_by_role("log")).to_have_count(1)
    note = page.locator("#chat-note")
    expect(note).to_be_visible()
    expect(note).to_contain_text("automated assistant")
    expect(note).to_contain_text("911")
    box = page.get_by_label("Your message")
    assert box.evaluate("el => el.id") == "chat-input"
    send = page.get_by_role("button", name="Send")
    restart = page.get_by_role("button", name="Start over")
    assert send.evaluate("el => el.tagName") == restart.evaluate("el => el.tagName") == "BUTTON"

    # While the assistant thinks: a typing indicator, Send disabled. (The request is held, then sent on.)
    held = []
    page.route("**/chat", lambda route: held.append(route))
    box.fill("hi")
    box.press("Enter")
    expect(page.locator("#chat-typing")).to_be_visible()
    expect(send).to_be_disabled()
    box.press("Enter")  # a second Enter while waiting sends nothing twice
    for _ in range(50):
        if held:
            break
        page.wait_for_timeout(100)
    assert len(held) == 1
    held[0].continue_()
    wait_reply(page, "automated assistant")
    page.unroute("**/chat")
    expect(page.locator("#chat-typing")).to_be_hidden()
    assert messages(page).count() == 2

    choices = page.get_by_role("group", name="Choose an answer, or type it:").get_by_role("button")
    assert choices.count() == 9
    assert set(choices.evaluate_all("els => els.map(e => e.tagName + ':' + e.type)")) == {"BUTTON:button"}
    assert page.locator("#chat-log .msg-bot").first.get_attribute("lang") == "en"
    assert page.locator(".msg-text").first.evaluate("el => getComputedStyle(el).whiteSpace") == "pre-line"

    box.focus()
    tab_to(page, lambda f: f["choice"] == 0)
    ring = page.evaluate("""() => { const s = getComputedStyle(document.activeElement);
                                    return [s.outlineStyle, parseFloat(s.outlineWidth)]; }""")
    assert ring[0] != "none" and ring[1] >= 2, f"keyboard focus is visible: {ring}"

    # The network fails: a polite message, the text is given back, nothing half-sent stays in the transcript.
    page.route("**/chat", lambda route: route.abort("internetdisconnected"))
    box.fill("i need a job")
    box.press("Enter")
    expect(page.locator("#chat-status")).to_contain_text("could not be sent")
    expect(box).to_have_value("i need a job")
    expect(send).to_be_enabled()
    assert messages(page).count() == 2
    page.unroute("**/chat")
    box.press("Enter")
    wait_reply(page, "ZIP code")
    expect(page.locator("#chat-status")).to_be_empty()

    # The gateway refuses a message that is too long: its words are shown, the text stays to be shortened.
    box.fill("a" * 1700)
    box.press("Enter")
    expect(page.locator("#chat-status")).to_contain_text("too long")
    assert len(box.input_value()) == 1700

    assert requests and all(u.startswith(gateway.url + "/") for u in requests), requests
    expected = ("ERR_INTERNET_DISCONNECTED", "status of 413")  # the two failures this test caused
    assert not [p for p in problems if not any(e in p for e in expected)], problems


# --- 4. a phone screen -----------------------------------------------------------------------------


def test_phone_screen_has_no_horizontal_scroll_and_big_enough_targets(gateway, browser):
    phone = browser.new_context(viewport={"width": 360, "height": 640}, is_mobile=True, has_touch=True,
                                device_scale_factor=2)
    phone.set_default_timeout(REPLY_MS)
    try:
        page = phone.new_page()
        page.goto(gateway.url)
        box = page.get_by_label("Your message")
        box.fill("Riverbend" * 15)  # one long word must wrap, not widen the page
        box.press("Enter")
        expect(messages(page).nth(1)).to_be_visible(timeout=REPLY_MS)  # the long word, then the bot's answer
        box.fill("i need a job")
        box.press("Enter")
        wait_reply(page, "ZIP code")
        box.fill("47104")
        box.press("Enter")
        wait_reply(page, "How old")
        page.get_by_role("button", name="25 to 54").tap()
        wait_reply(page, "Pick one")

        sizes = page.evaluate("""() => ({
            inner: window.innerWidth,
            doc: document.documentElement.scrollWidth,
            body: document.body.scrollWidth,
            log: [document.getElementById('chat-log').scrollWidth, document.getElementById('chat-log').clientWidth],
            right: Math.max(...[...document.querySelectorAll('#chat button, #chat input, #chat .msg')]
                .filter(el => el.offsetParent !== null).map(el => el.getBoundingClientRect().right)),
        })""")
        assert sizes["inner"] == 360, f"the viewport meta makes the page phone-wide: {sizes}"
        assert sizes["doc"] <= 360 and sizes["body"] <= 360, f"no horizontal scroll: {sizes}"
        assert sizes["log"][0] <= sizes["log"][1], f"the conversation does not scroll sideways: {sizes}"
        assert sizes["right"] <= 360, f"every control fits on the screen: {sizes}"

        heights = page.locator("#chat button:visible").evaluate_all(
            "els => els.map(e => e.getBoundingClientRect().height)")
        assert heights and min(heights) >= 44, f"touch targets at least 44 px high: {heights}"
        assert re.search(r"\(555\) \d{3}-\d{4}", page.locator("#chat-log").inner_text())
    finally:
        phone.close()


# --- 5. the assistant is down ---------------------------------------------------------------------------


def test_when_the_assistant_is_down_the_resident_is_told_and_given_911(stack, context):
    from bot.stack import free_port
    from tests.conftest import start_gateway, stop_gateway

    down = start_gateway(stack, {"RASA_URL": f"http://127.0.0.1:{free_port()}"}, log_name="gateway-no-rasa")
    try:
        page = context.new_page()
        page.goto(down.url)
        box = page.get_by_label("Your message")
        box.fill("i need a job")
        box.press("Enter")
        wait_reply(page, "having trouble")
        expect(page.locator("#chat-log .msg-bot")).to_contain_text("911")
        expect(page.locator("#chat-log .msg-you")).to_have_text("You said: i need a job")
        expect(page.locator("#contact-form")).to_be_hidden()
        assert focused(page)["id"] == "chat-input"
    finally:
        stop_gateway(down)
