"""Every table of the application, in one place (SQLAlchemy 2, typed); no queries, no engine.

The referral database (`Base`), created by Alembic migrations (referrals/migrations); `create_all` is never used
outside tests of the migrations themselves. Three kinds of data, kept apart on purpose (see docs/privacy.md):
- the directory (`programs`, `neighborhoods`): public program facts, replaced as a whole on load;
- referral cases (`referral_cases`): what a caseworker needs to act on a consented referral; tied to a
  resident only through `residents`, which later holds the encrypted contact (the contact vault);
- the referral log (`referral_log`): anonymous rows for equity reports. It carries the resident's
  random `log_id`, never the pseudonym, so deleting the `residents` row cuts every tie to a person;
- the unmet-need log (`unmet_need_log`): anonymous rows for requests that ended without a referral (no
  program fit, every fitting program full, or the resident declined). It carries no id of any kind.
Then the resident's privacy records (opt-outs, consents, crisis flags, callback requests), the staff side
(accounts, portal sessions, recovery codes, sign-in throttling, the audit log, case events) and the stored
equity releases.

The conversation store (`ConversationBase`): the gateway's state between two turns, beside Rasa's tracker
store in a database of its own (bot/stores.py creates it).
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, timezone
from typing import Any

from sqlalchemy import (JSON, BigInteger, Boolean, Date, DateTime, Float, ForeignKey, Integer, String, Text,
                        UniqueConstraint)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def as_utc(value: datetime) -> datetime:
    """SQLite hands back naive datetimes; everything we store is UTC."""
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


class Base(DeclarativeBase):
    type_annotation_map = {datetime: DateTime(timezone=True), dict[str, Any]: JSON}


# --- the directory and the resident side ------------------------------------------------------

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
    # The staff side's columns (migration 0003), all nullable: who claimed the case and when, and when the
    # resident would like to be reached.
    claimed_by: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    claimed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    preferred_contact_time: Mapped[str | None] = mapped_column(String(100), nullable=True)


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


# --- privacy: opt-outs, consents, crisis flags, callbacks -------------------------------------

class OptOut(Base):
    __tablename__ = "sms_opt_outs"

    pseudonym: Mapped[str] = mapped_column(String(128), primary_key=True)
    opted_out: Mapped[bool] = mapped_column(Boolean)
    changed_at: Mapped[datetime] = mapped_column(default=utcnow)


class Consent(Base):
    __tablename__ = "consents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    pseudonym: Mapped[str] = mapped_column(ForeignKey("residents.pseudonym", ondelete="CASCADE"), index=True)
    scope: Mapped[str] = mapped_column(String(20))
    granted: Mapped[bool] = mapped_column(Boolean)
    wording: Mapped[str] = mapped_column(Text)
    language: Mapped[str] = mapped_column(String(5))
    channel: Mapped[str] = mapped_column(String(20))
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)


class CrisisFlag(Base):
    __tablename__ = "crisis_flags"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    pseudonym: Mapped[str] = mapped_column(String(128), index=True)
    channel: Mapped[str] = mapped_column(String(20))
    language: Mapped[str] = mapped_column(String(5))
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    reviewed_at: Mapped[datetime | None] = mapped_column(default=None)


class CallbackRequest(Base):
    __tablename__ = "callback_requests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    pseudonym: Mapped[str] = mapped_column(String(128), index=True)
    reason: Mapped[str] = mapped_column(String(20))
    channel: Mapped[str] = mapped_column(String(20))
    language: Mapped[str] = mapped_column(String(5))
    preferred_time: Mapped[str | None] = mapped_column(String(60), default=None)
    requested_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    call_by: Mapped[datetime] = mapped_column()
    status: Mapped[str] = mapped_column(String(20), default="open")
    handled_at: Mapped[datetime | None] = mapped_column(default=None)


# --- the staff side --------------------------------------------------------------------------

class StaffUser(Base):
    __tablename__ = "staff_users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(80), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(20))
    organization: Mapped[str | None] = mapped_column(String(300))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column()  # unused since issue 14 (throttling instead)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    totp_secret: Mapped[str | None] = mapped_column(String(64))
    totp_enrolled_at: Mapped[datetime | None] = mapped_column()
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger)  # the last time step used: no replay
    password_changed_at: Mapped[datetime | None] = mapped_column()

    @property
    def mfa_enrolled(self) -> bool:
        return self.totp_enrolled_at is not None and bool(self.totp_secret)


class StaffSession(Base):
    __tablename__ = "staff_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256 hex of the cookie token
    user_id: Mapped[int] = mapped_column(ForeignKey("staff_users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    csrf_token: Mapped[str] = mapped_column(String(64))
    mfa_at: Mapped[datetime | None] = mapped_column()   # None: password only, the TOTP step is still due
    auth_at: Mapped[datetime | None] = mapped_column()  # last full authentication (sign-in or re-auth)
    address: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(200))


class RecoveryCode(Base):
    """A single-use code for when the authenticator app is lost. Stored as sha256(salt + code)."""

    __tablename__ = "staff_recovery_codes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("staff_users.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    used_at: Mapped[datetime | None] = mapped_column()


class LoginThrottle(Base):
    """Failed attempts per key: `address:<ip or /64>`, `account:<sha256 of the username>`, `mfa:<user id>`."""

    __tablename__ = "login_throttle"

    key: Mapped[str] = mapped_column(String(80), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_failure_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    blocked_until: Mapped[datetime | None] = mapped_column()


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


# --- equity releases -------------------------------------------------------------------------

class ReportRelease(Base):
    """One revision of one period's release. `csv`, `text` and `html` are what is served, byte for byte.

    `cells` and `month_cells` hold the true counts behind it (for the next release's audit); they never
    leave the server.
    """

    __tablename__ = "report_releases"
    __table_args__ = (UniqueConstraint("period", "revision", name="uq_report_releases_period_revision"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    period: Mapped[str] = mapped_column(String(20))
    kind: Mapped[str] = mapped_column(String(8))
    fiscal_year: Mapped[int] = mapped_column(Integer, index=True)
    revision: Mapped[int] = mapped_column(Integer)
    pending: Mapped[bool] = mapped_column(Boolean)
    published_on: Mapped[date] = mapped_column(Date)
    outcomes_final_on: Mapped[date | None] = mapped_column(Date, default=None)
    protection: Mapped[float | None] = mapped_column(Float, default=None)
    cells: Mapped[list] = mapped_column(JSON)
    month_cells: Mapped[dict] = mapped_column(JSON)
    csv: Mapped[str] = mapped_column(Text)
    text: Mapped[str] = mapped_column(Text)
    html: Mapped[str] = mapped_column(Text)


# --- live help (referrals/live.py) and texts on a referral (referrals/case_texts.py) ---------------------

class LiveConversation(Base):
    __tablename__ = "live_conversations"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=lambda: str(uuid.uuid4()))
    pseudonym: Mapped[str] = mapped_column(ForeignKey("residents.pseudonym", ondelete="CASCADE"), index=True)
    channel: Mapped[str] = mapped_column(String(20))
    language: Mapped[str] = mapped_column(String(5))
    team: Mapped[str] = mapped_column(String(300), index=True)
    need: Mapped[str | None] = mapped_column(String(40))
    neighborhood: Mapped[str | None] = mapped_column(String(100))
    asked: Mapped[str | None] = mapped_column(String(200))  # slot names, comma-joined
    crisis: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(20), default="queued", index=True)
    outcome: Mapped[str | None] = mapped_column(String(20))
    requested_at: Mapped[datetime] = mapped_column(default=utcnow)
    taken_by: Mapped[int | None] = mapped_column(Integer)  # staff_users.id (no FK: staff accounts outlive it)
    taken_at: Mapped[datetime | None] = mapped_column()
    closed_at: Mapped[datetime | None] = mapped_column()


class LiveMessage(Base):
    __tablename__ = "live_messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    conversation_id: Mapped[str] = mapped_column(ForeignKey("live_conversations.id", ondelete="CASCADE"),
                                                 index=True)
    sender: Mapped[str] = mapped_column(String(10))  # resident | staff | system
    sealed: Mapped[str] = mapped_column(Text)  # the text, sealed with the vault
    staff_id: Mapped[int | None] = mapped_column(Integer)
    delivery: Mapped[str | None] = mapped_column(String(20))  # for SMS: sent | opted_out | failed | ...
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class HandoffLogEntry(Base):
    """One anonymous handoff event: no pseudonym, no text, the day only."""

    __tablename__ = "handoff_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event: Mapped[str] = mapped_column(String(20))  # requested | answered | timed_out | closed
    team: Mapped[str] = mapped_column(String(300))
    channel: Mapped[str] = mapped_column(String(20))
    language: Mapped[str] = mapped_column(String(5))
    need: Mapped[str | None] = mapped_column(String(40))
    neighborhood: Mapped[str | None] = mapped_column(String(100))
    crisis: Mapped[bool] = mapped_column(Boolean, default=False)
    wait_seconds: Mapped[int | None] = mapped_column(Integer)
    outcome: Mapped[str | None] = mapped_column(String(20))
    occurred_on: Mapped[datetime] = mapped_column(index=True)


class CaseMessage(Base):
    __tablename__ = "case_messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    referral_id: Mapped[str] = mapped_column(ForeignKey("referral_cases.id", ondelete="CASCADE"), index=True)
    sender: Mapped[str] = mapped_column(String(10))  # staff | resident
    sealed: Mapped[str] = mapped_column(Text)
    staff_id: Mapped[int | None] = mapped_column(Integer)
    delivery: Mapped[str | None] = mapped_column(String(20))  # sent | opted_out | no_consent | quiet_hours ...
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


# --- the conversation store (a database of its own) -------------------------------------------

class ConversationBase(DeclarativeBase):
    type_annotation_map = {datetime: DateTime(timezone=True)}


class ConversationState(ConversationBase):
    """What the gateway remembers between two turns: the language and the choices shown last. In the
    conversation store, beside Rasa's `events` (not in the referral database: a resident who never
    made a referral leaves no pseudonym there), so any gateway can take the next turn."""

    __tablename__ = "gateway_state"

    pseudonym: Mapped[str] = mapped_column(String(128), primary_key=True)
    language: Mapped[str | None] = mapped_column(String(5))
    buttons: Mapped[list[Any] | None] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
