"""Staff accounts, portal sessions, the audit log and the work done on referral cases.

Why these live apart from referrals/db.py: db.py is what the resident side writes (directory, cases, the
anonymous log). Everything here is the staff side (issue 5), and nothing here is imported by the
conversation.

Design decisions:
- Passwords are hashed with argon2id (argon2-cffi's defaults, RFC 9106 low-memory profile). There is no
  default account and no default password: the first account is made on the command line.
- A session row's id is the SHA-256 of the cookie's random token, so a leaked database cannot be
  replayed as cookies. Idle timeout 30 minutes and absolute lifetime 12 hours (OWASP ASVS 4.0.3 V3.3).
- After 5 failed sign-ins an account is locked for 15 minutes; the counter starts again afterwards.
- The audit log holds who, what and when, never contact data and never free text typed by staff
  (reasons and notes stay in `case_events`, which is deleted with the case).
- Every status change also writes an anonymous `referral_log` row, so equity reports see outcomes.
"""

from __future__ import annotations

import argparse
import functools
import getpass
import hashlib
import secrets
import sys
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Callable, Iterable, TextIO

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Boolean, DateTime, ForeignKey, Integer, String, Text, delete, func, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from referrals.db import Base, ProgramRow, ReferralCase, ReferralLogEntry, Resident, utcnow

ROLES: tuple[str, ...] = ("caseworker", "supervisor", "analyst", "admin")
ORG_ROLES: frozenset[str] = frozenset({"caseworker", "supervisor"})

MIN_PASSWORD = 12
MAX_PASSWORD = 128
MAX_FAILED_LOGINS = 5
LOCKOUT = timedelta(minutes=15)
SESSION_IDLE = timedelta(minutes=30)
SESSION_ABSOLUTE = timedelta(hours=12)

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

_hasher = PasswordHasher()


@functools.cache
def _dummy_hash() -> str:
    """Verified against when the username is unknown, so a wrong username costs as long as a wrong password."""
    return _hasher.hash(secrets.token_hex(16))


class StaffError(ValueError):
    """Input a person can fix; the message says how."""


class Conflict(StaffError):
    """The case changed under the request (claimed by someone else, already closed)."""


def as_utc(value: datetime) -> datetime:
    """SQLite hands back naive datetimes; everything we store is UTC."""
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


# --- models ---------------------------------------------------------------------------------------

class StaffUser(Base):
    __tablename__ = "staff_users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(80), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(20))
    organization: Mapped[str | None] = mapped_column(String(300))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class StaffSession(Base):
    __tablename__ = "staff_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256 hex of the cookie token
    user_id: Mapped[int] = mapped_column(ForeignKey("staff_users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    csrf_token: Mapped[str] = mapped_column(String(64))


class AuditEntry(Base):
    """Who did what, when. `detail` never holds contact data or text typed by staff."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    user_id: Mapped[int | None] = mapped_column(Integer, index=True)
    username: Mapped[str | None] = mapped_column(String(80))
    action: Mapped[str] = mapped_column(String(40))
    referral_id: Mapped[str | None] = mapped_column(String(36), index=True)
    detail: Mapped[str] = mapped_column(Text, default="")


class CaseEvent(Base):
    """One step on a case: a status change (with reason and the date it happened), an assignment or a note."""

    __tablename__ = "case_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    referral_id: Mapped[str] = mapped_column(ForeignKey("referral_cases.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    user_id: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str | None] = mapped_column(String(20))
    reason: Mapped[str | None] = mapped_column(Text)
    note: Mapped[str | None] = mapped_column(Text)


# The staff side's columns on referral_cases (migration 0003). They are added to the mapped class here,
# not in db.py, so the resident side keeps working without this module; all three are nullable.
ReferralCase.claimed_by = mapped_column("claimed_by", Integer, nullable=True, index=True)
ReferralCase.claimed_at = mapped_column("claimed_at", DateTime(timezone=True), nullable=True)
ReferralCase.preferred_contact_time = mapped_column("preferred_contact_time", String(100), nullable=True)


# --- accounts -------------------------------------------------------------------------------------

def check_password(password: str, username: str = "") -> None:
    if len(password) < MIN_PASSWORD:
        raise StaffError(f"the password must have at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise StaffError(f"the password must have at most {MAX_PASSWORD} characters")
    if username and password.strip().lower() == username.strip().lower():
        raise StaffError("the password must not be the username")


def known_organizations(session: Session) -> list[str]:
    return list(session.scalars(select(ProgramRow.organization).distinct().order_by(ProgramRow.organization)))


def create_user(session: Session, username: str, role: str, password: str,
                organization: str | None = None) -> StaffUser:
    """Validate and add an account in the session's transaction; the caller commits."""
    username = (username or "").strip()
    organization = (organization or "").strip() or None
    if not username or len(username) > 80 or any(c.isspace() for c in username):
        raise StaffError("the username must be 1 to 80 characters without spaces")
    if role not in ROLES:
        raise StaffError(f"unknown role {role!r}; use one of: {', '.join(ROLES)}")
    if role in ORG_ROLES and not organization:
        raise StaffError(f"a {role} needs --org: the organization whose referrals they work")
    if role not in ORG_ROLES and organization:
        raise StaffError(f"an {role} works across organizations: leave out --org")
    if organization:
        known = known_organizations(session)
        if known and organization not in known:
            raise StaffError(f"no program in the directory belongs to {organization!r}; "
                             f"known organizations: {'; '.join(known)}")
    check_password(password, username)
    if session.scalar(select(StaffUser.id).where(StaffUser.username == username)) is not None:
        raise StaffError(f"the username {username!r} is taken")
    user = StaffUser(username=username, role=role, organization=organization,
                     password_hash=_hasher.hash(password), active=True, failed_logins=0)
    session.add(user)
    session.flush()
    return user


def list_users(session: Session) -> list[StaffUser]:
    return list(session.scalars(select(StaffUser).order_by(StaffUser.role, StaffUser.username)))


def set_active(session: Session, user: StaffUser, active: bool) -> None:
    """Disable (ending every session at once) or re-enable an account."""
    user.active = active
    if not active:
        session.execute(delete(StaffSession).where(StaffSession.user_id == user.id))
    else:
        user.failed_logins, user.locked_until = 0, None
    session.flush()


def is_locked(user: StaffUser, now: datetime | None = None) -> bool:
    return user.locked_until is not None and as_utc(user.locked_until) > (now or utcnow())


def authenticate(session: Session, username: str, password: str, now: datetime | None = None) -> StaffUser | None:
    """The user when the credentials are right and the account is usable; None otherwise.

    The caller shows one message for every failure, so nobody learns whether a username exists or an
    account is locked. Failures count toward the lock-out; the counter is written in this transaction.
    """
    now = now or utcnow()
    user = session.scalar(select(StaffUser).where(StaffUser.username == (username or "").strip()))
    if user is None:
        _verify(_dummy_hash(), password)
        return None
    if is_locked(user, now):
        _verify(_dummy_hash(), password)
        audit(session, user, "login_refused", detail="account locked")
        return None
    right = _verify(user.password_hash, password)
    if not user.active:
        audit(session, user, "login_refused", detail="account disabled")
        return None
    if not right:
        user.failed_logins = (user.failed_logins or 0) + 1
        if user.failed_logins >= MAX_FAILED_LOGINS:
            user.failed_logins, user.locked_until = 0, now + LOCKOUT
            audit(session, user, "account_locked",
                  detail=f"{MAX_FAILED_LOGINS} failed sign-ins; locked for {int(LOCKOUT.total_seconds() // 60)} min")
        else:
            audit(session, user, "login_failed", detail=f"failed sign-in {user.failed_logins}")
        return None
    user.failed_logins, user.locked_until = 0, None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    return user


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password or "")
    except (VerificationError, InvalidHashError):
        return False


# --- sessions -------------------------------------------------------------------------------------

def _session_id(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start_session(session: Session, user: StaffUser) -> tuple[str, StaffSession]:
    """A new session for `user`: returns the cookie token (only ever given to the browser) and the row."""
    now = utcnow()
    # Sessions nobody came back to are dead already; sweep them out while we are here.
    session.execute(delete(StaffSession).where((StaffSession.last_seen_at < now - SESSION_IDLE)
                                               | (StaffSession.created_at < now - SESSION_ABSOLUTE)))
    token = secrets.token_urlsafe(32)
    row = StaffSession(id=_session_id(token), user_id=user.id, csrf_token=secrets.token_urlsafe(32))
    session.add(row)
    session.flush()
    return token, row


def resume_session(session: Session, token: str, now: datetime | None = None
                   ) -> tuple[StaffSession, StaffUser] | None:
    """The live session and its user for a cookie token; an expired session is deleted on the way."""
    if not token or len(token) > 200:
        return None
    now = now or utcnow()
    row = session.get(StaffSession, _session_id(token))
    if row is None:
        return None
    user = session.get(StaffUser, row.user_id)
    expired = (now - as_utc(row.last_seen_at) > SESSION_IDLE or now - as_utc(row.created_at) > SESSION_ABSOLUTE)
    if expired or user is None or not user.active:
        session.delete(row)
        session.flush()
        return None
    row.last_seen_at = now
    return row, user


def end_session(session: Session, token: str) -> None:
    if token:
        session.execute(delete(StaffSession).where(StaffSession.id == _session_id(token)))


# --- audit ----------------------------------------------------------------------------------------

def audit(session: Session, user: StaffUser | None, action: str, referral_id: str | None = None,
          detail: str = "") -> None:
    session.add(AuditEntry(user_id=user.id if user else None, username=user.username if user else None,
                           action=action, referral_id=referral_id, detail=detail))


def audit_entries(session: Session, viewer: StaffUser, limit: int = 300) -> list[AuditEntry]:
    """Newest first. A supervisor sees what concerns their organization (its cases and its staff);
    an admin sees account events (entries without a referral)."""
    query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if viewer.role == "supervisor":
        org_cases = select(ReferralCase.id).where(ReferralCase.organization == viewer.organization)
        org_staff = select(StaffUser.id).where(StaffUser.organization == viewer.organization)
        query = query.where(AuditEntry.referral_id.in_(org_cases)
                            | (AuditEntry.referral_id.is_(None) & AuditEntry.user_id.in_(org_staff)))
    elif viewer.role == "admin":
        query = query.where(AuditEntry.referral_id.is_(None))
    else:
        return []
    return list(session.scalars(query))


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
        raise StaffError("this referral belongs to another organization")
    if assignee is not None:
        if user.role != "supervisor":
            raise StaffError("only a supervisor assigns referrals")
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
        raise StaffError("only the caseworker who claimed this referral, or a supervisor, records steps")
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
        raise StaffError("only the caseworker who claimed this referral, or a supervisor, adds notes")
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


# --- command line: python -m referrals users ... -----------------------------------------------

def add_cli(sub: argparse._SubParsersAction) -> None:
    users = sub.add_parser("users", help="staff accounts of the caseworker portal").add_subparsers(
        dest="command", required=True)
    add = users.add_parser("add", help="create an account (asks for the password twice)")
    add.add_argument("username")
    add.add_argument("--role", required=True, choices=ROLES)
    add.add_argument("--org", help="organization, exactly as in the directory (caseworker and supervisor)")
    add.add_argument("--password-stdin", action="store_true",
                     help="read the password from the first line of standard input instead of the terminal")
    users.add_parser("list", help="list accounts")
    for name, text in (("disable", "disable an account and end its sessions"), ("enable", "re-enable an account")):
        users.add_parser(name, help=text).add_argument("username")


@dataclass
class _Terminal:
    """Where the CLI reads passwords from; a seam for tests that drive the command through stdin."""

    ask: Callable[[str], str] = getpass.getpass
    stdin: TextIO = sys.stdin


def run_cli(args: argparse.Namespace, database_url: str, terminal: _Terminal | None = None) -> int:
    from referrals.db import make_engine, make_sessionmaker
    from referrals.store import upgrade

    terminal = terminal or _Terminal()
    upgrade(database_url)
    engine = make_engine(database_url)
    try:
        with make_sessionmaker(engine).begin() as session:
            if args.command == "add":
                password = _read_password(args, terminal)
                user = create_user(session, args.username, args.role, password, args.org)
                audit(session, None, "user_created", detail=f"{user.username} ({user.role}) on the command line")
                print(f"created {user.role} {user.username}" + (f" of {user.organization}" if user.organization else ""))
            elif args.command == "list":
                _print_users(list_users(session))
            else:
                user = session.scalar(select(StaffUser).where(StaffUser.username == args.username))
                if user is None:
                    raise StaffError(f"no account {args.username!r}")
                set_active(session, user, args.command == "enable")
                audit(session, None, f"user_{args.command}d", detail=f"{user.username} on the command line")
                print(f"{args.command}d {user.username}")
    except StaffError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        engine.dispose()
    return 0


def _read_password(args: argparse.Namespace, terminal: _Terminal) -> str:
    if args.password_stdin:
        line = terminal.stdin.readline()
        password = line[:-1] if line.endswith("\n") else line
        check_password(password, args.username)
        return password
    password = terminal.ask(f"Password for {args.username} (at least {MIN_PASSWORD} characters): ")
    check_password(password, args.username)
    if terminal.ask("The same password again: ") != password:
        raise StaffError("the two passwords differ; nothing was created")
    return password


def _print_users(users: Iterable[StaffUser]) -> None:
    now = utcnow()
    rows = [("username", "role", "organization", "state")]
    for u in users:
        state = "disabled" if not u.active else "locked" if is_locked(u, now) else "active"
        rows.append((u.username, u.role, u.organization or "-", state))
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)) + "  " + r[3])
