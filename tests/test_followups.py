"""Closing the loop (issue 5, part 3): a caseworker closes a case, `python -m referrals followups` texts
the resident once through the real twilio client (to a local fake of Twilio's Messages API), and the
resident's SMS answer, through the real gateway, records the outcome or re-opens the referral."""

from __future__ import annotations

import os
import subprocess
import sys

from sqlalchemy import select

from referrals.config import ROOT
from referrals.models import ReferralCase, ReferralLogEntry, Resident
from referrals.privacy import record_consent
from referrals.accounts import create_user
from referrals.cases import claim, record_step
from tests.fake_twilio import FakeTwilio
from tests.test_gateway_privacy import fake_twilio, refer, sessions  # noqa: F401  (fixture)
from tests.test_gateway_sms import sms_pseudonym, texter


def close_case(gateway, who: str, status: str = "closed", followup_consent: bool = True) -> str:
    with sessions(gateway).begin() as s:
        case = s.scalars(select(ReferralCase).where(ReferralCase.resident_pseudonym == who)).one()
        user = create_user(s, f"cw{who[-8:]}", "caseworker", "a long enough password", case.organization)
        claim(s, case, user)
        record_step(s, case, user, "contacted", "")
        record_step(s, case, user, status, "done" if status != "closed" else "")
        if followup_consent:
            record_consent(s, who, "followup", True, "May we text you once later to ask how it went?", "en", "sms")
        return case.id


def run_followups(gateway, fake: FakeTwilio) -> str:
    env = {**os.environ, **{k: gateway.env[k] for k in ("PSEUDONYM_KEY", "VAULT_KEY")},
           "DATABASE_URL": gateway.stack.database_url, "TWILIO_ACCOUNT_SID": fake.account_sid,
           "TWILIO_AUTH_TOKEN": fake.auth_token, "TWILIO_FROM_NUMBER": "+15550100000", "TWILIO_API_BASE": fake.url}
    out = subprocess.run([sys.executable, "-m", "referrals", "followups"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout


def log_rows(gateway, case_id: str) -> list[tuple[str, str]]:
    with sessions(gateway)() as s:
        return [(e.event, e.status) for e in s.scalars(
            select(ReferralLogEntry).where(ReferralLogEntry.referral_id == case_id).order_by(ReferralLogEntry.id))]


def test_closed_case_gets_one_followup_and_didnt_work_reopens_it(gateway, fake_twilio):
    t = texter(gateway)
    refer(t)
    who = sms_pseudonym(gateway, t.phone)
    case_id = close_case(gateway, who)
    assert "1 sent" in run_followups(gateway, fake_twilio)
    sent = fake_twilio.to(t.phone)
    assert len(sent) == 1 and "Reply 1 if it worked, 2 if it didn't" in sent[0]["body"]
    assert run_followups(gateway, fake_twilio).endswith("none due\n"), "only once per case"
    assert len(fake_twilio.to(t.phone)) == 1

    reply = t.say("2")
    assert "reopened your referral" in reply
    with sessions(gateway)() as s:
        case = s.get(ReferralCase, case_id)
        assert (case.status, case.claimed_by, case.followup_status) == ("new", None, "answered_not_worked")
    assert log_rows(gateway, case_id)[-3:] == [("followup", "asked"), ("followup", "not_worked"), ("status", "new")]
    assert "automated assistant" in t.say("hi").lower(), "after the answer, the dialogue is back"


def test_it_worked_is_recorded_and_a_later_1_is_a_menu_choice_again(gateway, fake_twilio):
    t = texter(gateway)
    refer(t)
    who = sms_pseudonym(gateway, t.phone)
    case_id = close_case(gateway, who, status="enrolled")
    run_followups(gateway, fake_twilio)
    assert "glad it worked" in t.say("It worked!")
    assert log_rows(gateway, case_id)[-1] == ("followup", "worked")
    menu = t.say("hi")
    assert "zip code" in t.say("1").lower(), menu


def test_no_followup_without_consent_or_after_stop(gateway, fake_twilio):
    t = texter(gateway)
    refer(t)
    close_case(gateway, sms_pseudonym(gateway, t.phone), followup_consent=False)
    stopped = texter(gateway)
    refer(stopped)
    close_case(gateway, sms_pseudonym(gateway, stopped.phone))
    stopped.say("STOP")
    out = run_followups(gateway, fake_twilio)
    assert "skipped_no_consent" in out and "skipped_opted_out" in out
    assert fake_twilio.to(t.phone) == [] and fake_twilio.to(stopped.phone) == []


def test_deleted_residents_leave_log_rows_only(gateway):
    t = texter(gateway)
    refer(t)
    who = sms_pseudonym(gateway, t.phone)
    with sessions(gateway)() as s:
        log_id = s.get(Resident, who).log_id
    t.say("DELETE")  # an open referral: DELETE asks to confirm first
    t.say("DELETE")
    with sessions(gateway)() as s:
        assert s.get(Resident, who) is None
        assert s.scalars(select(ReferralLogEntry).where(ReferralLogEntry.resident_log_id == log_id)).all()
