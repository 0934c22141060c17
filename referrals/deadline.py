"""A resident's turn has one deadline (the gateway's RASA_TIMEOUT). The gateway sends it to Rasa in
the message metadata (`deadline`, epoch seconds, already less a margin for the reply to travel back);
actions that write read it here and store nothing once it has passed, and wait for a lock only as
long as the turn has left. So a turn the resident was told failed leaves no referral behind."""

from __future__ import annotations

import time
import weakref
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session


def turn_deadline(metadata: dict[str, Any] | None) -> float | None:
    try:
        return float((metadata or {})["deadline"])
    except (KeyError, TypeError, ValueError):
        return None


def time_left(deadline: float | None) -> float | None:
    return None if deadline is None else deadline - time.time()


_RESET_ON_CHECKIN: "weakref.WeakSet[Engine]" = weakref.WeakSet()


def _reset_busy_timeout(dbapi_conn, record) -> None:  # noqa: ANN001 (SQLAlchemy's pool event)
    if record.info.pop("bounded", False):
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA busy_timeout = 15000")  # referrals.db.make_engine's default
        cur.close()


def bound_lock_wait(session: Session, seconds: float) -> None:
    """Wait at most `seconds` for a lock in this transaction (SQLite busy timeout, PostgreSQL lock and
    statement timeouts). SQLite's setting is per connection: it is put back when the connection
    returns to the pool, whatever happened in between."""
    ms = max(1, int(seconds * 1000))
    conn = session.connection()
    if conn.dialect.name == "sqlite":
        engine = conn.engine
        if engine not in _RESET_ON_CHECKIN:
            event.listen(engine, "checkin", _reset_busy_timeout)
            _RESET_ON_CHECKIN.add(engine)
        conn.connection._connection_record.info["bounded"] = True
        conn.exec_driver_sql(f"PRAGMA busy_timeout = {ms}")
    elif conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"SET LOCAL lock_timeout = {ms}")
        conn.exec_driver_sql(f"SET LOCAL statement_timeout = {ms}")


def restore_lock_wait(session: Session) -> None:
    conn = session.connection()
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql("PRAGMA busy_timeout = 15000")  # referrals.db.make_engine's default
