"""What the resident side writes: residents, referral cases with their anonymous log row, the sealed contact.

Each function takes a session first and works in the caller's transaction; the caller commits once, so a
case and its log row exist together or not at all.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from referrals.directory import Program
from referrals.matching import Answers
from referrals.models import (UNMET_REASONS, ContactEntry, ReferralCase, ReferralLogEntry, Resident, UnmetNeedEntry,
                              utcnow)


def recent_referral_counts(session: Session, days: int = 7, now: datetime | None = None) -> dict[str, int]:
    since = (now or utcnow()) - timedelta(days=days)
    rows = session.execute(
        select(ReferralCase.program_id, func.count()).where(ReferralCase.created_at >= since)
        .group_by(ReferralCase.program_id))
    return {pid: n for pid, n in rows}


def get_or_create_resident(session: Session, pseudonym: str) -> Resident:
    resident = session.get(Resident, pseudonym)
    if resident is None:
        resident = Resident(pseudonym=pseudonym)
        session.add(resident)
        session.flush()
    else:
        resident.last_activity_at = utcnow()
    return resident


def create_referral(session: Session, *, pseudonym: str, program: Program, need: str, answers: Answers,
                    neighborhood: str | None, channel: str) -> ReferralCase:
    """Write a referral case and its anonymous log entry in the session's transaction.

    The caller commits once, so either both rows exist or neither does.
    """
    resident = get_or_create_resident(session, pseudonym)
    case = ReferralCase(
        resident_pseudonym=resident.pseudonym, program_id=program.id, program_name=program.name,
        organization=program.organization, need=need, status="new", language=answers.language,
        channel=channel, zip_code=answers.zip_code, neighborhood=neighborhood, age_band=answers.age_band,
        income_band=answers.income_band, business_stage=answers.business_stage)
    session.add(case)
    session.flush()
    session.add(ReferralLogEntry(
        referral_id=case.id, resident_log_id=resident.log_id, event="created", status="new", need=need,
        program_id=program.id, neighborhood=neighborhood, age_band=answers.age_band,
        language=answers.language, channel=channel))
    session.flush()
    return case


def save_contact(session: Session, pseudonym: str, kind: str, ciphertext: str) -> None:
    """Store (or replace) the sealed contact of a resident who has a referral."""
    get_or_create_resident(session, pseudonym)
    entry = session.get(ContactEntry, pseudonym)
    if entry is None:
        session.add(ContactEntry(pseudonym=pseudonym, kind=kind, ciphertext=ciphertext))
    else:
        entry.kind, entry.ciphertext, entry.updated_at = kind, ciphertext, utcnow()
    session.flush()


def has_open_referral(session: Session, pseudonym: str) -> bool:
    return session.scalar(select(func.count()).select_from(ReferralCase)
                          .where(ReferralCase.resident_pseudonym == pseudonym)) > 0


def record_unmet_need(session: Session, *, reason: str, need: str, neighborhood: str | None,
                      age_band: str | None, language: str, channel: str, now: datetime | None = None
                      ) -> UnmetNeedEntry:
    """Add one anonymous unmet-need row in the session's transaction (the caller commits); the time is
    kept to the day."""
    if reason not in UNMET_REASONS:
        raise ValueError(f"unknown unmet-need reason {reason!r}")
    day = (now or utcnow()).astimezone(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    entry = UnmetNeedEntry(reason=reason, need=need, neighborhood=neighborhood, age_band=age_band,
                           language=language, channel=channel, occurred_at=day)
    session.add(entry)
    session.flush()
    return entry
