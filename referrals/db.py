"""Database models (SQLAlchemy 2, typed) and the queries; each query takes a session first.

Three kinds of data, kept apart on purpose (see docs/privacy.md):
- the directory (`programs`, `neighborhoods`): public program facts, replaced as a whole on load;
- referral cases (`referral_cases`): what a caseworker needs to act on a consented referral; tied to a
  resident only through `residents`, which later holds the encrypted contact (the contact vault);
- the referral log (`referral_log`): anonymous rows for equity reports. It carries the resident's
  random `log_id`, never the pseudonym, so deleting the `residents` row cuts every tie to a person;
- the unmet-need log (`unmet_need_log`): anonymous rows for requests that ended without a referral (no
  program fit, every fitting program full, or the resident declined). It carries no id of any kind.

The schema is created by Alembic migrations (referrals/migrations); `create_all` is never used outside
tests of the migrations themselves.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone
from dataclasses import dataclass, replace
from dataclasses import field as dc_field
from datetime import date
from typing import Any, Sequence

from sqlalchemy import (JSON, Boolean, DateTime, ForeignKey, Integer, String, Text, create_engine, event,
                        func, select)
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from referrals.directory import Program, _program, assured_too_long_ago
from referrals.matching import Answers


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Base(DeclarativeBase):
    type_annotation_map = {datetime: DateTime(timezone=True), dict[str, Any]: JSON}


class ProgramRow(Base):
    __tablename__ = "programs"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(300))
    organization: Mapped[str] = mapped_column(String(300))
    provider: Mapped[str] = mapped_column(String(20))
    active: Mapped[bool] = mapped_column(Boolean)
    accepting_referrals: Mapped[bool] = mapped_column(Boolean)
    hsds: Mapped[dict[str, Any]] = mapped_column(JSON)
    position: Mapped[int] = mapped_column(Integer)
    loaded_at: Mapped[datetime] = mapped_column(default=utcnow)
    # What matching uses: x_eligibility as given, or derived from standard HSDS fields (need_mapping.py),
    # with the reasons. NULL for rows loaded before this column existed (then derived when read).
    eligibility: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    # Set when a newer feed no longer lists the service: never matched again, but referral cases and reports
    # that name it keep resolving. Cleared if a later feed lists it again.
    retired_at: Mapped[datetime | None] = mapped_column(default=None)


class Neighborhood(Base):
    __tablename__ = "neighborhoods"

    zip_code: Mapped[str] = mapped_column(String(10), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))


class Resident(Base):
    """A resident known by pseudonym; `log_id` is the only id the anonymous log ever sees."""

    __tablename__ = "residents"

    pseudonym: Mapped[str] = mapped_column(String(128), primary_key=True)
    log_id: Mapped[str] = mapped_column(String(36), unique=True, default=lambda: str(uuid.uuid4()))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_activity_at: Mapped[datetime] = mapped_column(default=utcnow)


class ReferralCase(Base):
    __tablename__ = "referral_cases"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=lambda: str(uuid.uuid4()))
    resident_pseudonym: Mapped[str] = mapped_column(
        ForeignKey("residents.pseudonym", ondelete="CASCADE"), index=True)
    program_id: Mapped[str] = mapped_column(String(64), index=True)
    program_name: Mapped[str] = mapped_column(String(300))
    organization: Mapped[str] = mapped_column(String(300))
    need: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(20), default="new")
    language: Mapped[str] = mapped_column(String(5))
    channel: Mapped[str] = mapped_column(String(20))
    zip_code: Mapped[str | None] = mapped_column(String(10))
    neighborhood: Mapped[str | None] = mapped_column(String(100))
    age_band: Mapped[str | None] = mapped_column(String(20))
    income_band: Mapped[str | None] = mapped_column(String(20))
    business_stage: Mapped[str | None] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The one follow-up text after a case closes (referrals/followups.py): sent | skipped_<why> | answered.
    followup_status: Mapped[str | None] = mapped_column(String(30), default=None)
    followup_at: Mapped[datetime | None] = mapped_column(default=None)


class ReferralLogEntry(Base):
    """One anonymous event of a referral: no phone, no name, no free text, no pseudonym."""

    __tablename__ = "referral_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    referral_id: Mapped[str] = mapped_column(String(36), index=True)
    resident_log_id: Mapped[str] = mapped_column(String(36), index=True)
    event: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20))
    need: Mapped[str] = mapped_column(String(40), index=True)
    program_id: Mapped[str] = mapped_column(String(64))
    neighborhood: Mapped[str | None] = mapped_column(String(100))
    age_band: Mapped[str | None] = mapped_column(String(20))
    language: Mapped[str] = mapped_column(String(5))
    channel: Mapped[str] = mapped_column(String(20))
    # Self-reported, only with consent to anonymized analytics (OMB SPD 15 categories, comma-joined);
    # NULL when not asked, "prefer_not_to_say" when declined.
    race_ethnicity: Mapped[str | None] = mapped_column(String(200))
    gender: Mapped[str | None] = mapped_column(String(40))
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


UNMET_REASONS = ("no_program", "all_full", "declined")


class UnmetNeedEntry(Base):
    """One request that ended without a referral: why, and the same coarse groups as the referral log.

    Not personal data: no phone, no name, no free text, no pseudonym, no referral or resident id, and only
    the day (UTC midnight), so no row can be tied back to a conversation by its time either. Nothing links
    a row to a resident, so a resident's DELETE has nothing here to remove, and retention keeps the rows,
    like the anonymous referral log.
    """

    __tablename__ = "unmet_need_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    reason: Mapped[str] = mapped_column(String(20))  # UNMET_REASONS
    need: Mapped[str] = mapped_column(String(40))
    neighborhood: Mapped[str | None] = mapped_column(String(100))
    age_band: Mapped[str | None] = mapped_column(String(20))
    language: Mapped[str] = mapped_column(String(5))
    channel: Mapped[str] = mapped_column(String(20))
    occurred_at: Mapped[datetime] = mapped_column(index=True)


class ContactEntry(Base):
    """The contact vault: how to reach a resident, encrypted (referrals/vault.py), one row per resident.

    Written only when a resident consents to a referral; deleted with the resident (cascade).
    """

    __tablename__ = "contact_vault"

    pseudonym: Mapped[str] = mapped_column(ForeignKey("residents.pseudonym", ondelete="CASCADE"),
                                           primary_key=True)
    kind: Mapped[str] = mapped_column(String(10))  # sms | phone | email
    ciphertext: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class InboundMessage(Base):
    """Twilio MessageSids already handled, so a retried webhook is not processed twice."""

    __tablename__ = "inbound_messages"

    message_sid: Mapped[str] = mapped_column(String(64), primary_key=True)
    received_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    # processing | done | failed (bot/exactly_once.py); `reply` is the bot's reply bodies as JSON.
    state: Mapped[str] = mapped_column(String(12), default="done", server_default="done")
    reply: Mapped[str | None] = mapped_column(Text, default=None)
    updated_at: Mapped[datetime | None] = mapped_column(default=None)


# --- engine -----------------------------------------------------------------------------------

def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for `url`; SQLite gets foreign keys on and a busy timeout for several processes."""
    if url.startswith("sqlite"):
        kwargs.setdefault("connect_args", {"timeout": 15})
    else:
        # A server restart or failover closes pooled connections; each is checked before use, so the
        # next request after one gets a fresh connection instead of an error.
        kwargs.setdefault("pool_pre_ping", True)
    engine = create_engine(url, **kwargs)
    if engine.dialect.name == "sqlite":
        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # pragma: no cover - trivial
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA journal_mode=WAL")
            cur.close()
    return engine


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


# --- directory --------------------------------------------------------------------------------

@dataclass
class DirectoryChanges:
    """What a load changed, by service: (id, name) pairs, and the reasons for kept rows."""

    added: list[tuple[str, str]] = dc_field(default_factory=list)
    updated: list[tuple[str, str]] = dc_field(default_factory=list)
    unchanged: list[tuple[str, str]] = dc_field(default_factory=list)
    restored: list[tuple[str, str]] = dc_field(default_factory=list)
    retired: list[tuple[str, str]] = dc_field(default_factory=list)
    kept_newer: list[tuple[str, str, str]] = dc_field(default_factory=list)
    partial: bool = False

    def text(self) -> str:
        lines = [f"changes: {len(self.added)} added, {len(self.updated)} updated, {len(self.unchanged)} unchanged, "
                 f"{len(self.restored)} listed again, {len(self.retired)} retired, "
                 f"{len(self.kept_newer)} kept (the stored copy is newer)"]
        if self.partial:
            lines.append("  a partial feed: services it does not list are kept, not retired")
        for title, items in (("added", self.added), ("updated", self.updated), ("listed again", self.restored),
                             ("retired (no longer in the feed; their referrals are kept)", self.retired)):
            if items:
                lines.append(f"  {title}:")
                lines += [f"  - {sid} {name[:60]!r}" for sid, name in items]
        if self.kept_newer:
            lines.append("  kept:")
            lines += [f"  - {sid} {name[:60]!r}: {why}" for sid, name, why in self.kept_newer]
        return "\n".join(lines)


def _when(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


def update_directory(session: Session, programs: Sequence[Program], eligibility: Sequence[dict[str, Any]],
                     neighborhoods: dict[str, str] | None, *, partial: bool = False,
                     now: datetime | None = None) -> DirectoryChanges:
    """Bring the directory in line with a feed, in the session's transaction; the caller commits.

    By id: new services are added; a listed service whose content changed is updated unless the stored copy
    has a later `last_modified` (an older feed must not undo a newer one); services the feed no longer lists
    are retired, not deleted (a partial feed retires nothing). Neighborhoods, when given, are replaced.
    """
    now = now or utcnow()
    changes = DirectoryChanges(partial=partial)
    rows = {r.id: r for r in session.scalars(select(ProgramRow))}
    top = max((r.position for r in rows.values()), default=-1) + 1
    seen: set[str] = set()
    for i, (p, elig) in enumerate(zip(programs, eligibility, strict=True)):
        seen.add(p.id)
        row = rows.get(p.id)
        position = top + i if partial else i
        if row is None:
            session.add(ProgramRow(id=p.id, name=p.name, organization=p.organization, provider=p.provider,
                                   active=p.active, accepting_referrals=p.accepting_referrals, hsds=p.hsds,
                                   position=position, eligibility=elig, loaded_at=now))
            changes.added.append((p.id, p.name))
            continue
        if not partial:
            row.position = position
        stored, incoming = _when(row.hsds.get("last_modified")), _when(p.hsds.get("last_modified"))
        if row.retired_at is not None:
            changes.restored.append((p.id, p.name))
        elif row.hsds == p.hsds and row.eligibility == elig:
            changes.unchanged.append((p.id, p.name))
            continue
        elif stored and incoming and incoming < stored:
            changes.kept_newer.append((p.id, p.name, f"feed last_modified {p.hsds['last_modified']} is older "
                                                     f"than the stored {row.hsds['last_modified']}"))
            continue
        else:
            changes.updated.append((p.id, p.name))
        row.name, row.organization, row.provider = p.name, p.organization, p.provider
        row.active, row.accepting_referrals, row.hsds = p.active, p.accepting_referrals, p.hsds
        row.eligibility, row.retired_at, row.loaded_at = elig, None, now
    if not partial:
        for sid, row in rows.items():
            if sid not in seen and row.retired_at is None:
                row.retired_at = now
                changes.retired.append((sid, row.name))
    if neighborhoods is not None:
        session.query(Neighborhood).delete()
        for zip_code, name in neighborhoods.items():
            session.add(Neighborhood(zip_code=zip_code, name=name))
    session.flush()
    return changes


def load_programs(session: Session, stale_days: int | None = None, today: date | None = None) -> list[Program]:
    """The programs residents can be matched to: every service not retired, in feed order.

    With `stale_days`, programs whose HSDS assured_date is older than that are marked `call_first`.
    """
    rows = session.scalars(select(ProgramRow).where(ProgramRow.retired_at.is_(None)).order_by(ProgramRow.position))
    programs = [_program(row.hsds, row.eligibility) for row in rows]
    if stale_days is not None:
        programs = [replace(p, call_first=True) if assured_too_long_ago(p.hsds, stale_days, today) else p
                    for p in programs]
    return programs


def load_neighborhoods_table(session: Session) -> dict[str, str]:
    return {n.zip_code: n.name for n in session.scalars(select(Neighborhood))}


def recent_referral_counts(session: Session, days: int = 7, now: datetime | None = None) -> dict[str, int]:
    since = (now or utcnow()) - timedelta(days=days)
    rows = session.execute(
        select(ReferralCase.program_id, func.count()).where(ReferralCase.created_at >= since)
        .group_by(ReferralCase.program_id))
    return {pid: n for pid, n in rows}


# --- referrals --------------------------------------------------------------------------------

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


# --- contact vault and webhook bookkeeping ---------------------------------------------------

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

