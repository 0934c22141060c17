"""Where conversations live outside any one process.

- **Rasa's tracker store** (the conversation itself): Rasa's own SQL tracker store, in the file
  `<name>.conversations.db` beside an SQLite `DATABASE_URL` (so `var/riverbend.conversations.db` by
  default), or in the database `<name>_conversations` on the same PostgreSQL server (created at start).
  `TRACKER_STORE_URL` overrides both. Rasa writes it; the app only deletes from it (DELETE by text, the
  retention purge) and checks that it answers (`/healthz`).
- **Rasa's lock store**: in Rasa's memory for one Rasa process; in Redis (`REDIS_URL`) when more
  than one Rasa serves the same conversations, so two turns of one conversation never run at once.
- **The gateway's state between two turns** (language, the choices shown last): the
  `gateway_state` table in the conversation store, or Redis when `REDIS_URL` is set. Never a process's memory, so any
  gateway behind a load balancer can take any turn.
- **Exactly-once SMS**: `inbound_messages` records each Twilio MessageSid as processing, done (with
  the bot's reply, so a retry gets the same answer) or failed (a retry is processed again).

App code only: nothing here imports rasa.
"""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import bindparam, delete, inspect, select, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from referrals.config import Settings
from referrals.db import make_engine, make_sessionmaker
from referrals.models import ConversationBase, ConversationState, InboundMessage, utcnow

REDIS_PREFIX = "riverbend:"


STATE_TTL_S = 7 * 24 * 3600  # Redis state of an idle conversation; the database's is purged with the rest


# --- Rasa's tracker store ------------------------------------------------------------------------

def tracker_store_url(settings: Settings) -> str:
    """The app-side (SQLAlchemy 2, psycopg 3) URL of Rasa's conversation store."""
    if settings["TRACKER_STORE_URL"]:
        return settings["TRACKER_STORE_URL"]
    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite":
        path = Path(url.database or "riverbend.db")
        return str(url.set(database=str(path.with_name(path.stem + ".conversations.db"))))
    if url.get_backend_name() == "postgresql":
        return url.set(database=f"{url.database}_conversations").render_as_string(hide_password=False)
    raise ValueError(f"no tracker store for a {url.get_backend_name()} DATABASE_URL; set TRACKER_STORE_URL")


def rasa_tracker_url(app_url: str) -> str:
    """The same URL for Rasa's SQLAlchemy 1.4 with psycopg2 (.venv-rasa)."""
    url = make_url(app_url)
    if url.get_backend_name() == "postgresql":
        url = url.set(drivername="postgresql+psycopg2")
    return url.render_as_string(hide_password=False)


def ensure_tracker_database(app_url: str) -> None:
    """Create the PostgreSQL database of the conversation store when it is missing (SQLite makes its
    file itself). Rasa creates its `events` table on start."""
    url = make_url(app_url)
    if url.get_backend_name() == "sqlite":
        if url.database:
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        return
    engine = make_engine(app_url)
    try:
        with engine.connect():
            return
    except SQLAlchemyError as exc:
        if "does not exist" not in str(exc):
            raise
    finally:
        engine.dispose()
    admin = make_engine(url.set(database="postgres").render_as_string(hide_password=False),
                        isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            name = url.database.replace('"', '""')
            try:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
            except DBAPIError as exc:
                if "already exists" not in str(exc):  # another process created it first
                    raise
    finally:
        admin.dispose()


def rasa_endpoints(actions_url: str, redis_url: str = "", lock_prefix: str = "riverbend",
                   tracker_store: bool = True) -> str:
    """Rasa's endpoints.yml. Secrets are not in it: Rasa reads unquoted `${...}` from its own environment
    (ACTIONS_SECRET, RASA_TRACKER_STORE_URL, RASA_LOCK_STORE_PASSWORD), which only the Rasa process gets."""
    # The action server runs actions only with ACTIONS_SECRET (actions/server.py); Rasa sends it from its
    # environment (unquoted, or Rasa does not expand it).
    out = [f'action_endpoint:\n  url: "{actions_url}/webhook"\n  headers:\n    X-Actions-Secret: ${{ACTIONS_SECRET}}\n']
    if tracker_store:  # a full URL as `url` (its host) is used as is by Rasa's SQLTrackerStore (SQLite or PostgreSQL)
        out.append('tracker_store:\n  type: SQL\n  url: ${RASA_TRACKER_STORE_URL}\n')
    if redis_url:
        url = make_url(redis_url.replace("redis://", "redis+x://", 1)) if "://" in redis_url else None
        host = (url.host if url else None) or "127.0.0.1"
        port = (url.port if url else None) or 6379
        db = int((url.database if url else None) or 0)
        out.append(f'lock_store:\n  type: redis\n  url: "{host}"\n  port: {port}\n  db: {db}\n'
                   f'  key_prefix: "{lock_prefix}"\n')
        if url and url.password:
            out.append('  password: ${RASA_LOCK_STORE_PASSWORD}\n')
    return "".join(out)


def redis_password(redis_url: str) -> str:
    if not redis_url or "://" not in redis_url:
        return ""
    return make_url(redis_url.replace("redis://", "redis+x://", 1)).password or ""


class ConversationStore:
    """The app's handle on Rasa's conversation store: delete one conversation, purge idle ones."""

    def __init__(self, url: str):
        self.url = url
        kwargs: dict[str, Any] = {"pool_pre_ping": True}
        if url.startswith("sqlite"):
            kwargs["connect_args"] = {"timeout": 5}
        self.engine = make_engine(url, **kwargs)
        self.sessions = make_sessionmaker(self.engine)

    def create_state_table(self) -> None:
        """The gateway's state table (several gateways may start at once: the first one creates it)."""
        try:
            ConversationBase.metadata.create_all(self.engine)
        except SQLAlchemyError:
            ConversationBase.metadata.create_all(self.engine)

    def _has_events_table(self, conn) -> bool:
        return inspect(conn).has_table("events")

    def delete(self, sender_id: str) -> int:
        """Every event of one conversation, all sessions, and the gateway's state: nothing of it is kept."""
        with self.engine.begin() as conn:
            if inspect(conn).has_table("gateway_state"):
                conn.execute(delete(ConversationState).where(ConversationState.pseudonym == sender_id))
            if not self._has_events_table(conn):
                return 0
            return conn.execute(text("DELETE FROM events WHERE sender_id = :s"), {"s": sender_id}).rowcount

    def purge_idle(self, days: float, now: float | None = None) -> int:
        """Delete the conversations whose last event is older than `days`; how many conversations went."""
        cutoff = (now or time.time()) - days * 86400
        with self.engine.begin() as conn:
            if not self._has_events_table(conn):
                return 0
            if inspect(conn).has_table("gateway_state"):
                conn.execute(delete(ConversationState).where(
                    ConversationState.updated_at < datetime.fromtimestamp(cutoff, timezone.utc)))
            idle = [r[0] for r in conn.execute(text(
                "SELECT sender_id FROM events GROUP BY sender_id HAVING max(timestamp) < :c"), {"c": cutoff})]
            for i in range(0, len(idle), 500):
                conn.execute(text("DELETE FROM events WHERE sender_id IN :ids").bindparams(
                    bindparam("ids", expanding=True)), {"ids": idle[i:i + 500]})
            return len(idle)

    def count_events(self, sender_id: str) -> int:
        with self.engine.connect() as conn:
            if not self._has_events_table(conn):
                return 0
            return conn.execute(text("SELECT count(*) FROM events WHERE sender_id = :s"),
                                {"s": sender_id}).scalar_one()

    def ping(self) -> None:
        with self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    def dispose(self) -> None:
        self.engine.dispose()


def purge_conversations(settings: Settings, days: float) -> dict[str, int]:
    """The retention purge's part for conversations: Rasa's idle conversations and the gateway's
    state older than `days`; replies kept for Twilio retries older than two days."""
    totals: dict[str, int] = {}
    store = ConversationStore(tracker_store_url(settings))
    try:
        totals["conversations"] = store.purge_idle(days)  # with the gateway's state of idle ones
    finally:
        store.dispose()
    engine = make_engine(settings.database_url)
    try:
        with engine.begin() as conn:
            conn.execute(update(InboundMessage).where(InboundMessage.received_at < utcnow() - timedelta(days=2))
                         .values(reply=None))
    finally:
        engine.dispose()
    return totals


# --- the gateway's state between turns -------------------------------------------------------------

class StateStore:
    """Language and last choices per conversation, in the database (synchronous; call in a thread)."""

    def __init__(self, sessions: sessionmaker[Session]):
        self.sessions = sessions

    def get(self, who: str) -> tuple[str | None, list[dict[str, Any]] | None]:
        with self.sessions() as session:
            row = session.get(ConversationState, who)
            return (row.language, row.buttons) if row else (None, None)

    def put(self, who: str, language: str | None, buttons: list[dict[str, Any]] | None,
            wait_s: float | None = None) -> None:
        """Store the state; wait at most `wait_s` for a lock, so a write never lands after the turn's
        deadline (the resident would have been told the turn failed)."""
        from referrals.deadline import bound_lock_wait, restore_lock_wait

        for _ in range(2):  # two gateways may insert the same new conversation at once: the second updates
            try:
                with self.sessions.begin() as session:
                    if wait_s is not None:
                        bound_lock_wait(session, wait_s)
                    row = session.get(ConversationState, who)
                    if row is None:
                        session.add(ConversationState(pseudonym=who, language=language, buttons=buttons))
                    else:
                        row.language, row.buttons, row.updated_at = language, buttons, utcnow()
                    session.flush()
                    if wait_s is not None:
                        restore_lock_wait(session)
                return
            except IntegrityError:
                continue

    def forget(self, who: str) -> None:
        with self.sessions.begin() as session:
            session.execute(delete(ConversationState).where(ConversationState.pseudonym == who))


class RedisStateStore:
    """The same in Redis (REDIS_URL), for several gateways without a database round trip."""

    def __init__(self, redis_url: str, prefix: str = REDIS_PREFIX):
        import redis

        self.client = redis.Redis.from_url(redis_url, socket_timeout=2, socket_connect_timeout=2)
        self.prefix = prefix

    def _key(self, who: str) -> str:
        return f"{self.prefix}state:{who}"

    def get(self, who: str) -> tuple[str | None, list[dict[str, Any]] | None]:
        raw = self.client.get(self._key(who))
        if not raw:
            return None, None
        data = json.loads(raw)
        return data.get("language"), data.get("buttons")

    def put(self, who: str, language: str | None, buttons: list[dict[str, Any]] | None,
            wait_s: float | None = None) -> None:
        self.client.set(self._key(who), json.dumps({"language": language, "buttons": buttons}), ex=STATE_TTL_S)

    def forget(self, who: str) -> None:
        self.client.delete(self._key(who))

    def ping(self) -> None:
        self.client.ping()


# --- exactly-once Twilio messages ------------------------------------------------------------------

def claim_message(sessions: sessionmaker[Session], sid: str, stale_after_s: float,
                  wait_s: float | None = None) -> tuple[str, list[str] | None]:
    """Claim a MessageSid for processing. Returns (what, reply):

    - ("new", None): first delivery, or a retry of one that failed (it left nothing behind): process it;
    - ("done", bodies): answered before; send the same bodies again, process nothing;
    - ("busy", None): the first delivery is still being processed.
    A claim older than `stale_after_s` whose process never finished (it crashed) is taken over.
    A lock is waited for at most `wait_s`: a claim that cannot be made within the turn leaves no row.
    """
    from referrals.deadline import bound_lock_wait, restore_lock_wait

    sid = sid[:64]
    try:
        with sessions.begin() as session:
            if wait_s is not None:
                bound_lock_wait(session, wait_s)
            session.add(InboundMessage(message_sid=sid, state="processing", updated_at=utcnow()))
            session.flush()
            if wait_s is not None:
                restore_lock_wait(session)
        return "new", None
    except IntegrityError:
        pass
    with sessions.begin() as session:
        row = session.get(InboundMessage, sid)
        if row is None:  # purged in between
            session.add(InboundMessage(message_sid=sid, state="processing", updated_at=utcnow()))
            return "new", None
        if row.state == "done":
            return "done", json.loads(row.reply) if row.reply else []
        stale = utcnow() - timedelta(seconds=stale_after_s)
        taken = session.execute(
            update(InboundMessage).where(InboundMessage.message_sid == sid)
            .where((InboundMessage.state == "failed") |
                   ((InboundMessage.state == "processing") & (InboundMessage.updated_at < stale)))
            .values(state="processing", updated_at=utcnow())).rowcount
        return ("new", None) if taken else ("busy", None)


def finish_message(sessions: sessionmaker[Session], sid: str, ok: bool, bodies: list[str] | None = None) -> None:
    with sessions.begin() as session:
        session.execute(update(InboundMessage).where(InboundMessage.message_sid == sid[:64]).values(
            state="done" if ok else "failed", reply=json.dumps(bodies or []) if ok else None,
            updated_at=utcnow()))


def message_state(sessions: sessionmaker[Session], sid: str) -> tuple[str | None, list[str] | None]:
    with sessions() as session:
        row = session.scalar(select(InboundMessage).where(InboundMessage.message_sid == sid[:64]))
        if row is None:
            return None, None
        return row.state, (json.loads(row.reply) if row.reply else [])


# --- undoing a failed turn -------------------------------------------------------------------------

def undo_turn(sessions: sessionmaker[Session], pseudonym: str, since_wall: float) -> dict[str, int]:
    """Remove what a failed turn stored for `pseudonym` since `since_wall` (epoch seconds): referral
    cases with their anonymous log rows, and the consent recorded with them. The resident was told
    the turn failed, so nothing of it may stay."""
    from datetime import datetime, timezone

    from referrals.models import Consent, ReferralCase, ReferralLogEntry

    since = datetime.fromtimestamp(since_wall, timezone.utc)
    with sessions.begin() as session:
        ids = session.scalars(select(ReferralCase.id).where(ReferralCase.resident_pseudonym == pseudonym)
                              .where(ReferralCase.created_at >= since)).all()
        if not ids:
            return {"referrals": 0}
        session.execute(delete(ReferralLogEntry).where(ReferralLogEntry.referral_id.in_(ids)))
        session.execute(delete(ReferralCase).where(ReferralCase.id.in_(ids)))
        consents = session.execute(delete(Consent).where(Consent.pseudonym == pseudonym)
                                   .where(Consent.recorded_at >= since)).rowcount
        return {"referrals": len(ids), "consents": consents}
