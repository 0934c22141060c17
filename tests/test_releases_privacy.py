"""No linkage after DELETE (issue 12): the audit log and the re-keyed log rows keep no old id and only
the day, so a staff action's exact time can no longer be matched to a deleted referral's log rows."""

from __future__ import annotations


from sqlalchemy import select

from referrals import cases
from referrals.config import ROOT
from referrals.db import make_sessionmaker
from referrals.intake import load_programs
from referrals.models import AuditEntry, ReferralCase, ReferralLogEntry, StaffUser
from referrals.residents import create_referral
from referrals.matching import Answers
from referrals.privacy import delete_resident
from referrals.store import load_directory


def test_delete_leaves_nothing_that_links_back_to_the_referral(engine):
    load_directory(engine, ROOT / "referrals/data/sample_directory.json", ROOT / "referrals/data/neighborhoods.csv")
    sessions = make_sessionmaker(engine)
    with sessions.begin() as s:
        program = load_programs(s)[0]
        user = StaffUser(username="cw", role="caseworker", organization=program.organization,
                         password_hash="x", active=True, failed_logins=0)
        s.add(user)
        case = create_referral(s, pseudonym="sms-deleteme", program=program, need=program.needs[0],
                               answers=Answers(zip_code="47104", age_band="25_54", language="es"),
                               neighborhood="Eastside", channel="sms")
        s.flush()
        cases.claim(s, case, user)
        cases.record_step(s, case, user, "contacted", "", on=None)
        case_id = case.id
    with sessions() as s:
        before = {(r.event, r.status): r.occurred_at for r in
                  s.scalars(select(ReferralLogEntry).where(ReferralLogEntry.referral_id == case_id))}
        audited = s.scalars(select(AuditEntry).where(AuditEntry.referral_id == case_id)).all()
    assert len(before) >= 2 and audited, "the setup wrote log rows and audit entries with microsecond times"
    assert any(t.microsecond or t.second for t in before.values())

    with sessions.begin() as s:
        delete_resident(s, "sms-deleteme")
    with sessions() as s:
        assert s.get(ReferralCase, case_id) is None
        assert s.scalars(select(AuditEntry).where(AuditEntry.referral_id == case_id)).all() == []
        assert s.scalars(select(ReferralLogEntry).where(ReferralLogEntry.referral_id == case_id)).all() == []
        for entry in s.scalars(select(AuditEntry).where(AuditEntry.user_id == user.id)):
            at = entry.at
            assert entry.referral_id is None
            assert (at.hour, at.minute, at.second, at.microsecond) == (0, 0, 0, 0), "the day only"
        rekeyed = s.scalars(select(ReferralLogEntry).where(ReferralLogEntry.program_id == program.id)).all()
    assert len(rekeyed) == len(before) and len({r.referral_id for r in rekeyed}) == 1
    for row in rekeyed:
        t = row.occurred_at
        assert (t.hour, t.minute, t.second, t.microsecond) == (0, 0, 0, 0)
        assert t.date() == before[(row.event, row.status)].date(), "reports still see the right day"
