"""The work done on referral cases by staff: who may see and work a case, the queue, claiming and
assigning, recording steps with their reasons, notes, and a case's history.

Each function takes a session first and works in the caller's transaction. Every status change also writes an
anonymous `referral_log` row, so equity reports see outcomes; who did it goes to the audit log
(referrals/accounts.py).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from referrals.accounts import ORG_ROLES, StaffError, audit
from referrals.models import CaseEvent, ReferralCase, ReferralLogEntry, Resident, StaffUser, as_utc, utcnow

# Referral statuses in the order a case usually moves, each with its FHIR R4 Task.status as used by the
# HL7 SDOH Clinical Care (Gravity) referral workflow. Our name travels as Task.businessStatus.
FHIR_TASK_STATUS: dict[str, str] = {
    "new": "requested",
    "claimed": "accepted",
    "contacted": "in-progress",
    "enrolled": "completed",
    "not_eligible": "rejected",
    "unreachable": "failed",
    "declined": "cancelled",
    "closed": "completed",
}
STATUSES: tuple[str, ...] = tuple(FHIR_TASK_STATUS)
STEP_STATUSES: tuple[str, ...] = ("contacted", "enrolled", "not_eligible", "unreachable", "declined", "closed")
# Outcomes that are a "no": a reason is required, as FHIR asks for Task.statusReason on these.
REASON_REQUIRED: frozenset[str] = frozenset({"not_eligible", "unreachable", "declined"})
MAX_REASON = 500
MAX_NOTE = 2000


class NotAllowed(StaffError):
    """The person may see the case but not do this to it (audited as `access_denied`)."""


class Conflict(StaffError):
    """The case changed under the request (claimed by someone else, already closed)."""


# --- referral cases -------------------------------------------------------------------------------

def may_work(user: StaffUser, case: ReferralCase) -> bool:
    """Whoever may record steps and see contact details: the claimer, or a supervisor of the organization."""
    if case.claimed_by is None or case.organization != user.organization:
        return False
    return case.claimed_by == user.id or user.role == "supervisor"


def may_view(user: StaffUser, case: ReferralCase) -> bool:
    """A caseworker sees their organization's new referrals and their own; a supervisor all of the org's."""
    if user.role not in ORG_ROLES or case.organization != user.organization:
        return False
    return user.role == "supervisor" or case.status == "new" or case.claimed_by == user.id


def queue(session: Session, user: StaffUser, status: str | None = None, limit: int = 200
          ) -> tuple[list[ReferralCase], int]:
    """The referrals a user works on, oldest first, and how many there are in all."""
    where = [ReferralCase.organization == user.organization]
    if user.role == "caseworker":
        where.append((ReferralCase.status == "new")
                     | ((ReferralCase.claimed_by == user.id) & (ReferralCase.status != "closed")))
    elif user.role != "supervisor":
        return [], 0
    if status == "open":
        where.append(ReferralCase.status != "closed")
    elif status:
        where.append(ReferralCase.status == status)
    total = session.scalar(select(func.count()).select_from(ReferralCase).where(*where)) or 0
    rows = session.scalars(select(ReferralCase).where(*where).order_by(ReferralCase.created_at, ReferralCase.id)
                           .limit(limit))
    return list(rows), total


def case_history(session: Session, referral_id: str) -> list[tuple[CaseEvent, str | None]]:
    rows = session.execute(select(CaseEvent, StaffUser.username)
                           .join(StaffUser, StaffUser.id == CaseEvent.user_id, isouter=True)
                           .where(CaseEvent.referral_id == referral_id)
                           .order_by(CaseEvent.at, CaseEvent.id))
    return [(event, username) for event, username in rows]


def log_case_event(session: Session, case: ReferralCase, event: str, status: str, at: datetime | None = None) -> None:
    """An anonymous referral_log row for a case: no text, no person; the same facts (and consented
    demographics) as the referral's first log row, so reports can slice outcomes like referrals."""
    resident = session.get(Resident, case.resident_pseudonym)
    created = session.scalar(select(ReferralLogEntry).where(ReferralLogEntry.referral_id == case.id)
                             .order_by(ReferralLogEntry.id).limit(1))
    session.add(ReferralLogEntry(
        referral_id=case.id, resident_log_id=resident.log_id, event=event, status=status, need=case.need,
        program_id=case.program_id, neighborhood=case.neighborhood, age_band=case.age_band,
        language=case.language, channel=case.channel,
        race_ethnicity=created.race_ethnicity if created else None,
        gender=created.gender if created else None, occurred_at=at or utcnow()))


def _set_status(session: Session, case: ReferralCase, user: StaffUser, status: str, at: datetime,
                reason: str | None, before: str | None = None) -> None:
    before = before or case.status
    case.status, case.updated_at = status, utcnow()
    session.add(CaseEvent(referral_id=case.id, at=at, user_id=user.id, status=status, reason=reason))
    log_case_event(session, case, "status", status, at)
    audit(session, user, "status", case.id, detail=f"{before} -> {status}")


def claim(session: Session, case: ReferralCase, user: StaffUser, assignee: StaffUser | None = None) -> None:
    """Claim a new referral for `user`, or (a supervisor) assign it to `assignee` of the same organization."""
    target = assignee or user
    if case.organization != user.organization or user.role not in ORG_ROLES:
        raise NotAllowed("this referral belongs to another organization")
    if assignee is not None:
        if user.role != "supervisor":
            raise NotAllowed("only a supervisor assigns referrals")
        if (not assignee.active or assignee.role not in ORG_ROLES
                or assignee.organization != case.organization):
            raise StaffError("assign to an active caseworker or supervisor of this organization")
    if case.status == "closed":
        raise Conflict("this referral is closed")
    now = utcnow()
    if case.status == "new":
        # Conditional update: of two people claiming at once, exactly one wins.
        won = session.execute(update(ReferralCase)
                              .where(ReferralCase.id == case.id, ReferralCase.status == "new",
                                     ReferralCase.claimed_by.is_(None))
                              .values(claimed_by=target.id, claimed_at=now, status="claimed", updated_at=now)
                              .execution_options(synchronize_session=False)).rowcount
        if won != 1:
            raise Conflict("someone else claimed this referral first")
        session.refresh(case)
        _set_status(session, case, user, "claimed", now, before="new",
                    reason=None if assignee is None else f"assigned to {target.username}")
    elif assignee is None:
        raise Conflict("this referral is already claimed")
    else:
        case.claimed_by, case.claimed_at, case.updated_at = target.id, now, now
        session.add(CaseEvent(referral_id=case.id, at=now, user_id=user.id,
                              reason=f"reassigned to {target.username}"))
    if assignee is not None:
        audit(session, user, "assign", case.id, detail=f"assigned to {target.username}")
    else:
        audit(session, user, "claim", case.id)
    session.flush()


def record_step(session: Session, case: ReferralCase, user: StaffUser, status: str, reason: str,
                on: datetime | None = None) -> None:
    """Record a step (contacted, enrolled, ...) that happened `on` a date, with its reason."""
    if not may_work(user, case):
        raise NotAllowed("only the caseworker who claimed this referral, or a supervisor, records steps")
    if status not in STEP_STATUSES:
        raise StaffError(f"unknown step {status!r}; use one of: {', '.join(STEP_STATUSES)}")
    if case.status == "closed":
        raise Conflict("this referral is closed")
    if status == case.status:
        raise Conflict(f"the referral is already {status.replace('_', ' ')}")
    reason = (reason or "").strip()
    if status in REASON_REQUIRED and not reason:
        raise StaffError(f"say why the referral is {status.replace('_', ' ')} (a reason is required)")
    if len(reason) > MAX_REASON:
        raise StaffError(f"the reason must have at most {MAX_REASON} characters")
    now = utcnow()
    at = now if on is None else on
    if at > now:
        raise StaffError("the date of a step cannot be in the future")
    if at < as_utc(case.created_at).replace(hour=0, minute=0, second=0, microsecond=0):
        raise StaffError("the date of a step cannot be before the referral was made")
    _set_status(session, case, user, status, at, reason or None)
    session.flush()


def add_note(session: Session, case: ReferralCase, user: StaffUser, note: str) -> None:
    if not may_work(user, case):
        raise NotAllowed("only the caseworker who claimed this referral, or a supervisor, adds notes")
    note = (note or "").strip()
    if not note:
        raise StaffError("the note is empty")
    if len(note) > MAX_NOTE:
        raise StaffError(f"a note must have at most {MAX_NOTE} characters")
    session.add(CaseEvent(referral_id=case.id, user_id=user.id, note=note))
    audit(session, user, "note", case.id, detail="note added")
    session.flush()


def colleagues(session: Session, organization: str) -> list[StaffUser]:
    """Active staff of an organization a supervisor can assign referrals to."""
    return list(session.scalars(select(StaffUser)
                                .where(StaffUser.organization == organization, StaffUser.active.is_(True),
                                       StaffUser.role.in_(ORG_ROLES))
                                .order_by(StaffUser.username)))
