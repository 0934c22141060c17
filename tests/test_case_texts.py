"""Issue 13, item 2: a caseworker texts a referred resident from the case, and the replies thread into it.

Through the real gateway, Rasa, action server, database, the portal over HTTP and Twilio's real REST client
against tests/fake_twilio.py: the resident makes a referral by SMS (consenting to be contacted), the
caseworker who claimed it sends a template in the resident's language, the resident's answer lands in the
case (the bot stays out of it), STOP stops the next text, and quiet hours hold texts back.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pyotp
import pytest
from sqlalchemy import select

from referrals.case_texts import quiet_now
from referrals.models import CaseMessage
from referrals.config import Settings
from referrals.models import ReferralCase, utcnow
from referrals.portal import make_app
from referrals.models import StaffUser
from tests.chat import Texter, answer_questions
from tests.conftest import TWILIO_TEST_TOKEN
from tests.test_live_handoff import FROM, Desk, desk, sms_who  # noqa: F401  (desk is a fixture)
from tests.test_portal import RunningApp, _password_hash


def test_quiet_hours_wrap_midnight_and_can_be_off():
    zone = "America/Indiana/Indianapolis"
    at = lambda h, m=0: datetime(2026, 12, 2, h, m, tzinfo=ZoneInfo(zone))  # noqa: E731
    assert quiet_now("21:00-08:00", zone, at(22)) and quiet_now("21:00-08:00", zone, at(7, 59))
    assert not quiet_now("21:00-08:00", zone, at(8)) and not quiet_now("21:00-08:00", zone, at(20, 59))
    assert quiet_now("12:00-13:00", zone, at(12, 30)) and not quiet_now("off", zone, at(3))
    with pytest.raises(ValueError):
        quiet_now("late", zone)


def referred_texter(desk: Desk) -> tuple[Texter, ReferralCase]:
    """A resident who asked for a job by SMS and accepted the referral (so consented to be contacted)."""
    t = Texter(desk.gateway.url, TWILIO_TEST_TOKEN)
    t.say("hi")
    t.say("i need a job, got laid off")
    assert "2 business days" in answer_questions(t.say, t.say("47104")), t.show()
    assert "reference is" in t.say("1"), t.show()
    with desk.sessions() as s:
        case = s.scalar(select(ReferralCase).where(
            ReferralCase.resident_pseudonym == sms_who(desk, desk.gateway, t.phone)))
    return t, case


def staff_of(desk: Desk, organization: str, name: str):
    """A signed-in caseworker of `organization`."""
    desk.totp[name] = pyotp.random_base32(32)
    with desk.sessions.begin() as s:
        user = s.scalar(select(StaffUser).where(StaffUser.username == name)) or StaffUser(
            username=name, password_hash=_password_hash(), active=True, failed_logins=0, role="caseworker")
        user.organization, user.totp_secret, user.totp_enrolled_at = organization, desk.totp[name], utcnow()
        s.add(user)
    return desk.staff(name)


def caseworker_of(desk: Desk, case: ReferralCase, name: str = "casey"):
    """A caseworker of the case's organization who claimed it."""
    client = staff_of(desk, case.organization, name)
    client.get(f"/referrals/{case.id}")
    assert client.post(f"/referrals/{case.id}/claim").status_code == 303
    return client


def test_caseworker_texts_the_resident_and_the_reply_threads_into_the_case(desk: Desk):
    t, case = referred_texter(desk)
    casey = caseworker_of(desk, case)
    page = casey.get(f"/referrals/{case.id}/texts")
    assert page.status_code == 200 and case.id[:8].upper() in page.text
    # The desk's portal runs with QUIET_HOURS "off"; the quiet-hours test runs a portal of its own.
    response = casey.post(f"/referrals/{case.id}/texts", {"template": "intro"})
    assert response.status_code == 303 and response.headers["Location"].endswith("sent=sent")
    [sent] = desk.twilio.to(t.phone)
    assert sent["from"] == FROM and sent["body"].startswith(f"Hello from {case.organization}")
    assert f"(ref. {case.id[:8].upper()})" in sent["body"]

    reply = t.say("after 5pm is best, thanks")
    assert reply == "Thanks. Your caseworker will read this."
    page = casey.get(f"/referrals/{case.id}/texts").text
    assert "after 5pm is best, thanks" in page and "texted" in page
    with desk.sessions() as s:
        sealed = [m.sealed for m in s.scalars(select(CaseMessage).where(CaseMessage.referral_id == case.id))]
    assert len(sealed) == 2 and all("5pm" not in m for m in sealed), "texts are sealed at rest"

    # STOP: the next text is not sent, and the page says why.
    assert t.say("STOP")
    response = casey.post(f"/referrals/{case.id}/texts", {"message": "Are you still interested?"})
    assert response.headers["Location"].endswith("sent=opted_out")
    assert len(desk.twilio.to(t.phone)) == 1
    assert "texted STOP" in casey.get(f"/referrals/{case.id}/texts").text
    print("\n" + t.show())

    # DELETE (confirmed: it cancels the open referral) takes the texts with the case.
    if "DELETE" in t.say("DELETE"):
        t.say("DELETE")
    with desk.sessions() as s:
        assert s.scalars(select(CaseMessage).where(CaseMessage.referral_id == case.id)).all() == []
        assert s.get(ReferralCase, case.id) is None


def test_a_colleague_who_did_not_claim_it_cannot_text(desk: Desk):
    t, case = referred_texter(desk)
    caseworker_of(desk, case)
    other = staff_of(desk, case.organization, "casey2")
    assert other.get(f"/referrals/{case.id}/texts").status_code == 404
    assert other.post(f"/referrals/{case.id}/texts", {"template": "intro"}).status_code == 404
    assert desk.twilio.to(t.phone) == []


def test_quiet_hours_hold_the_text_back(desk: Desk):
    t, case = referred_texter(desk)
    now = datetime.now(timezone.utc).astimezone(ZoneInfo("America/Indiana/Indianapolis"))
    window = f"{(now - timedelta(hours=1)):%H:%M}-{(now + timedelta(hours=1)):%H:%M}"
    settings = Settings.from_env({"DATABASE_URL": desk.stack.database_url, "VAULT_KEY": desk.gateway.env["VAULT_KEY"],
                                  "PSEUDONYM_KEY": desk.gateway.env["PSEUDONYM_KEY"], "QUIET_HOURS": window,
                                  "TWILIO_ACCOUNT_SID": desk.twilio.account_sid, "TWILIO_AUTH_TOKEN": TWILIO_TEST_TOKEN,
                                  "TWILIO_FROM_NUMBER": FROM, "TWILIO_API_BASE": desk.twilio.url})
    from referrals.db import make_engine

    engine = make_engine(desk.stack.database_url)
    quiet_portal = RunningApp(make_app(settings, engine))
    try:
        quiet_desk = Desk(desk.stack, desk.gateway, quiet_portal.url, desk.sessions, desk.twilio, desk.team, desk.totp)
        casey = caseworker_of(quiet_desk, case, "casey3")
        response = casey.post(f"/referrals/{case.id}/texts", {"template": "missed"})
        assert response.headers["Location"].endswith("sent=quiet_hours")
        assert desk.twilio.to(t.phone) == []
        assert "Quiet hours now" in casey.get(f"/referrals/{case.id}/texts").text
    finally:
        quiet_portal.stop()
        engine.dispose()
