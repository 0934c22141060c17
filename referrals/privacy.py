"""Opt-out, consents, crisis flags, a resident's own data, deletion and retention.

- `sms_opt_outs` is the one record kept after a resident deletes their data: it holds only the
  pseudonym, whether the number is opted out and since when, because a STOP must keep being honoured.
  It holds no number, no need, nothing else.
- `consents` records each scope a resident agreed to or declined, with the date and the exact words
  they were shown. Deleted with the resident.
- `crisis_flags` tells staff a conversation hit the crisis reply: when, channel, language. Never the
  words that triggered it. Deleted with the resident (when one exists) or by retention.
- `callback_requests` (referrals/callbacks.py): a person was accepted after the crisis reply. Deleted
  with the resident or by retention, like the crisis flags.
- `delete_resident` removes the residents row, and with it (foreign-key cascade) the contact vault entry,
  the referral cases, their events and the consents. The anonymous referral log stays: its rows carry
  a random `log_id` that only the deleted residents row linked to the pseudonym.
- The unmet-need log (`unmet_need_log`, referrals/db.py) is not personal data: its rows carry no id of
  any kind and only the day, so nothing in them leads to a resident. DELETE has nothing there to remove,
  and retention keeps it, like the referral log.
"""

from __future__ import annotations

from dataclasses import dataclass
import uuid
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from referrals.models import (CallbackRequest, CaseMessage, Consent, ContactEntry, CrisisFlag, InboundMessage,
                              LiveConversation, OptOut, ReferralCase, ReferralLogEntry, Resident, utcnow)
from referrals.residents import get_or_create_resident

SCOPES = ("referral", "followup", "analytics")
# Handled Twilio MessageSids are kept this long, so a captured signed webhook cannot be replayed once its
# id is forgotten (Twilio's signature has no timestamp). A MessageSid says nothing about a person.
MESSAGE_SID_DAYS = 90


# --- opt-out ---------------------------------------------------------------------------------

def set_opted_out(session: Session, pseudonym: str, opted_out: bool) -> None:
    row = session.get(OptOut, pseudonym)
    if row is None:
        session.add(OptOut(pseudonym=pseudonym, opted_out=opted_out))
    else:
        row.opted_out, row.changed_at = opted_out, utcnow()
    session.flush()


def is_opted_out(session: Session, pseudonym: str) -> bool:
    row = session.get(OptOut, pseudonym)
    return bool(row and row.opted_out)


# --- consents --------------------------------------------------------------------------------

def record_consent(session: Session, pseudonym: str, scope: str, granted: bool, wording: str,
                   language: str, channel: str) -> Consent:
    if scope not in SCOPES:
        raise ValueError(f"unknown consent scope {scope!r}; expected one of {SCOPES}")
    get_or_create_resident(session, pseudonym)
    consent = Consent(pseudonym=pseudonym, scope=scope, granted=granted, wording=wording,
                      language=language, channel=channel)
    session.add(consent)
    session.flush()
    return consent


def current_consents(session: Session, pseudonym: str) -> dict[str, Consent]:
    """The latest answer per scope."""
    rows = session.scalars(select(Consent).where(Consent.pseudonym == pseudonym).order_by(Consent.id))
    return {c.scope: c for c in rows}


def has_consent(session: Session, pseudonym: str, scope: str) -> bool:
    consent = current_consents(session, pseudonym).get(scope)
    return bool(consent and consent.granted)


# --- crisis ----------------------------------------------------------------------------------

def flag_crisis(session: Session, pseudonym: str, channel: str, language: str) -> None:
    session.add(CrisisFlag(pseudonym=pseudonym, channel=channel, language=language))
    session.flush()


# --- a resident's own data -------------------------------------------------------------------

@dataclass
class HeldData:
    referrals: list[dict[str, Any]]
    consents: dict[str, tuple[bool, date]]  # scope -> (granted, when), the latest answer
    has_contact: bool
    opted_out: bool

    @property
    def empty(self) -> bool:
        return not self.referrals and not self.consents and not self.has_contact


def held_data(session: Session, pseudonym: str) -> HeldData:
    cases = session.scalars(select(ReferralCase).where(ReferralCase.resident_pseudonym == pseudonym)
                            .order_by(ReferralCase.created_at)).all()
    return HeldData(
        referrals=[{"program": c.program_name, "status": c.status, "need": c.need,
                    "date": c.created_at.date().isoformat(), "reference": c.id[:8].upper(),
                    "program_id": c.program_id} for c in cases],
        consents={scope: (c.granted, c.recorded_at.date())
                  for scope, c in current_consents(session, pseudonym).items()},
        has_contact=session.get(ContactEntry, pseudonym) is not None,
        opted_out=is_opted_out(session, pseudonym),
    )


def _day(value: datetime) -> datetime:
    """Midnight UTC of the same day: the coarse time kept after a deletion."""
    from referrals.models import as_utc

    return as_utc(value).replace(hour=0, minute=0, second=0, microsecond=0)
OPEN_STATUSES = ("new", "claimed", "contacted")  # a caseworker still has work to do on these


def open_work(session: Session, pseudonym: str) -> tuple[list[str], bool]:
    """What DELETE would cancel: the programs of open referrals, and whether a callback is still owed."""
    programs = session.scalars(select(ReferralCase.program_name).where(
        ReferralCase.resident_pseudonym == pseudonym, ReferralCase.status.in_(OPEN_STATUSES))
        .order_by(ReferralCase.created_at)).all()
    callback = session.scalar(select(func.count()).select_from(CallbackRequest).where(
        CallbackRequest.pseudonym == pseudonym, CallbackRequest.status == "open")) or 0
    return list(programs), callback > 0


def recent_crisis(session: Session, pseudonym: str, within: timedelta = timedelta(hours=24)) -> bool:
    """Whether this conversation got the crisis reply lately (START is then most likely meant for 88788)."""
    return (session.scalar(select(func.count()).select_from(CrisisFlag).where(
        CrisisFlag.pseudonym == pseudonym, CrisisFlag.created_at >= utcnow() - within)) or 0) > 0


def delete_resident(session: Session, pseudonym: str) -> dict[str, int]:
    """Delete everything tied to `pseudonym` but the opt-out state; report what went."""
    counts = {
        "referral_cases": session.scalar(select(func.count()).select_from(ReferralCase)
                                         .where(ReferralCase.resident_pseudonym == pseudonym)) or 0,
        "contact_vault": session.scalar(select(func.count()).select_from(ContactEntry)
                                        .where(ContactEntry.pseudonym == pseudonym)) or 0,
        "consents": session.scalar(select(func.count()).select_from(Consent)
                                   .where(Consent.pseudonym == pseudonym)) or 0,
    }
    # The resident was told a reference (the start of the case id). Its log rows get a fresh random id,
    # the same for all rows of one referral, so the reports still see each referral's path, while
    # the reference on the resident's phone no longer finds them.
    # No linkage back (issue 12): the audit log loses the old id, and both the audit rows and the re-keyed
    # log rows keep only the day. Otherwise the microsecond time of a staff action (audit log, old id)
    # equals the time of the log row it wrote, and gives the deleted referral's demographics back.
    from referrals.models import AuditEntry

    case_ids = session.scalars(select(ReferralCase.id).where(ReferralCase.resident_pseudonym == pseudonym)).all()
    for case_id in case_ids:
        rows = session.scalars(select(ReferralLogEntry).where(ReferralLogEntry.referral_id == case_id)).all()
        fresh = str(uuid.uuid4())
        for row in rows:
            row.referral_id, row.occurred_at = fresh, _day(row.occurred_at)
        for entry in session.scalars(select(AuditEntry).where(AuditEntry.referral_id == case_id)).all():
            entry.referral_id, entry.at = None, _day(entry.at)
    counts["crisis_flags"] = session.execute(delete(CrisisFlag).where(CrisisFlag.pseudonym == pseudonym)).rowcount
    counts["callback_requests"] = session.execute(
        delete(CallbackRequest).where(CallbackRequest.pseudonym == pseudonym)).rowcount
    counts["case_messages"] = session.execute(delete(CaseMessage).where(CaseMessage.referral_id.in_(
        select(ReferralCase.id).where(ReferralCase.resident_pseudonym == pseudonym)))).rowcount
    counts["live_conversations"] = session.execute(  # their messages go with them (cascade)
        delete(LiveConversation).where(LiveConversation.pseudonym == pseudonym)).rowcount
    counts["residents"] = session.execute(delete(Resident).where(Resident.pseudonym == pseudonym)).rowcount
    session.flush()
    return counts


# --- retention -------------------------------------------------------------------------------

def purge_expired(session: Session, days: int, now: datetime | None = None) -> dict[str, int]:
    """Delete residents (with their cases, vault entries and consents) whose last activity is older
    than `days`, crisis flags and handled message ids older than that; the anonymous referral log and
    the unmet-need log stay (no row of either leads to a person)."""
    now = now or utcnow()
    cutoff = now - timedelta(days=days)
    latest_case = (select(ReferralCase.resident_pseudonym, func.max(ReferralCase.updated_at).label("at"))
                   .group_by(ReferralCase.resident_pseudonym).subquery())
    expired = session.scalars(
        select(Resident.pseudonym).outerjoin(latest_case, latest_case.c.resident_pseudonym == Resident.pseudonym)
        .where(Resident.last_activity_at < cutoff)
        .where((latest_case.c.at.is_(None)) | (latest_case.c.at < cutoff))).all()
    totals = {"residents": 0, "referral_cases": 0, "contact_vault": 0, "consents": 0, "crisis_flags": 0,
              "callback_requests": 0, "live_conversations": 0, "case_messages": 0}
    for pseudonym in expired:
        for key, n in delete_resident(session, pseudonym).items():
            totals[key] += n
    totals["crisis_flags"] += session.execute(delete(CrisisFlag).where(CrisisFlag.created_at < cutoff)).rowcount
    totals["callback_requests"] += session.execute(
        delete(CallbackRequest).where(CallbackRequest.requested_at < cutoff)).rowcount
    totals["live_conversations"] += session.execute(
        delete(LiveConversation).where(LiveConversation.requested_at < cutoff)).rowcount
    totals["inbound_messages"] = session.execute(
        delete(InboundMessage).where(InboundMessage.received_at < now - timedelta(days=MESSAGE_SID_DAYS))).rowcount
    session.flush()
    return totals
