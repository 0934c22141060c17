"""A caseworker's day in a real headless Chromium: sign in, claim a referral, read the contact, record
that the resident enrolled, close the case, and see it leave the queue. Playwright drives the browser;
the portal runs for real on a loopback port over SQLite and PostgreSQL."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from referrals.models import ReferralLogEntry
import pyotp

from referrals import accounts
from tests.test_portal import NEIGHBORHOOD, PASSWORD, Portal, portal  # noqa: F401  (portal is a fixture)

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.fixture
def browser():
    """Headless Chromium from the system package; CI (env CI set) must have it, elsewhere we skip."""
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail("CI is set but /usr/bin/chromium is missing: apt-get install -y chromium")
        pytest.skip("no /usr/bin/chromium: install it with `apt-get install -y chromium` to run the browser test")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def sign_in(page, portal: Portal, username: str, password: str = PASSWORD) -> None:  # noqa: F811
    """Password, then the code from the authenticator app, as a person types them."""
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]:has-text('Sign in')")
    page.wait_for_url(re.compile(r"/login/mfa$"))
    page.fill("#code", portal.code(username))
    page.click("button[type=submit]:has-text('Continue')")


def test_caseworker_claims_a_referral_and_closes_it_in_the_browser(portal: Portal, browser):  # noqa: F811
    ref = portal.referral()
    phone = portal.phones[ref]
    page = browser.new_page()
    page.set_default_timeout(20_000)
    outside = []
    page.on("request", lambda r: None if r.url.startswith(portal.url) else outside.append(r.url))

    page.goto(portal.url + "/")
    assert page.url.endswith("/login")
    sign_in(page, portal, "caseworker")
    page.wait_for_url(re.compile(r"/queue$"))

    row = page.locator(f"tr[data-referral='{ref}']")
    assert NEIGHBORHOOD in row.inner_text()
    assert phone not in page.content()
    row.locator("a:has-text('Open')").click()
    page.wait_for_url(re.compile(f"/referrals/{ref}$"))
    assert page.locator("#case-status").inner_text() == "new"

    page.click("#claim")
    page.wait_for_selector("#show-contact")
    assert page.locator("#case-status").inner_text() == "claimed"
    page.click("#show-contact")
    assert page.locator("#contact").inner_text() == phone
    page.go_back()

    page.select_option("#step-status", "enrolled")
    page.fill("#step-reason", "starts the CDL class on Monday")
    page.click("#record-step")
    page.wait_for_function("document.querySelector('#case-status').textContent === 'enrolled'")
    page.select_option("#step-status", "closed")
    page.click("#record-step")
    page.wait_for_function("document.querySelector('#case-status').textContent === 'closed'")
    assert page.locator("#record-step").count() == 0, "a closed case takes no more steps"
    assert "starts the CDL class on Monday" in page.locator("table.history").inner_text()

    page.click("a:has-text('Referrals')")
    page.wait_for_url(re.compile(r"/queue$"))
    assert page.locator(f"tr[data-referral='{ref}']").count() == 0
    assert outside == [], "the portal loads nothing from outside"

    assert portal.case(ref).status == "closed"
    statuses = [r.status for r in sorted(portal.rows(ReferralLogEntry, ReferralLogEntry.referral_id == ref),
                                         key=lambda r: r.id)]
    assert statuses == ["new", "claimed", "enrolled", "closed"]


def test_equity_page_renders_its_charts_offline(portal: Portal, browser):  # noqa: F811
    from referrals.sample_data import load_sample_data

    from datetime import date, datetime, timezone

    from referrals.reports.releases import publish

    load_sample_data(portal.engine, referrals=1500, seed=3, allow_real=True,
                     now=datetime(2026, 5, 10, tzinfo=timezone.utc))
    with portal.sessions.begin() as s:
        publish(s, date(2026, 1, 2))
    page = browser.new_page()
    page.set_default_timeout(20_000)
    outside = []
    page.on("request", lambda r: None if r.url.startswith(portal.url) else outside.append(r.url))
    page.goto(portal.url + "/login")
    sign_in(page, portal, "analyst")
    page.wait_for_url(re.compile(r"/analyst$"))
    page.goto(portal.url + "/reports")
    page.click("a[href='/reports/FY2025-Q4']")
    charts = page.locator("svg[role=img]")
    assert charts.count() >= 5
    box = charts.first.bounding_box()
    assert box and box["width"] > 100 and box["height"] > 50, "the chart is drawn, not collapsed"
    assert page.locator("svg[role=img] rect").count() > 10, "bars are there"
    assert page.evaluate("getComputedStyle(document.querySelector('.equity-report')).fontFamily") != ""
    assert outside == [], "no CDN, no outside call"


def test_first_sign_in_enrolls_the_app_from_the_qr_code_in_the_browser(portal: Portal, browser):  # noqa: F811
    """The enrollment page as Chromium shows it: the QR code is drawn (inline SVG, nothing blocked by the
    CSP, nothing loaded from outside), the key typed into an app gives a code that works, and the
    recovery codes are shown before the queue."""
    with portal.sessions.begin() as s:
        accounts.create_user(s, "noor", "caseworker", "lantern orbit velvet thimble", "Riverbend Community College")
    page = browser.new_page()
    page.set_default_timeout(20_000)
    outside, violations = [], []
    page.on("request", lambda r: None if r.url.startswith(portal.url) else outside.append(r.url))
    page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
    page.goto(portal.url + "/login")
    page.fill("input[name=username]", "noor")
    page.fill("input[name=password]", "lantern orbit velvet thimble")
    page.click("button[type=submit]:has-text('Sign in')")
    page.wait_for_url(re.compile(r"/login/mfa$"))
    qr = page.locator("#qr svg")
    box = qr.bounding_box()
    assert box and box["width"] >= 150 and abs(box["width"] - box["height"]) < 2, "a square QR code is drawn"
    assert page.locator("#qr svg path").count() >= 1
    secret = page.locator("#secret").inner_text().replace(" ", "")
    page.fill("#code", pyotp.TOTP(secret).now())
    page.click("#enroll")
    page.wait_for_selector("#recovery-codes")
    assert page.locator("#recovery-codes li").count() == 10
    page.click("#continue")
    page.wait_for_url(re.compile(r"/queue$"))
    assert outside == [] and violations == [], (outside, violations)
