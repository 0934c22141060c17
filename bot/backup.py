"""Backups of the two databases a city must not lose: the referral database (DATABASE_URL) and Rasa's
conversation store (bot/stores.py). `python -m bot backup DIR` / `python -m bot restore DIR`.

- SQLite: SQLite's online backup API (a consistent copy while the assistant runs), to
  `DIR/referrals.db` and `DIR/conversations.db`.
- PostgreSQL: `pg_dump --format=custom` to `DIR/referrals.dump` and `DIR/conversations.dump`;
  restore with `pg_restore --clean --if-exists` into the configured databases (they must exist).
  The password goes to pg_dump in PGPASSWORD, never on its command line.

A backup holds residents' data (pseudonyms, referrals, the conversation store's messages): store it
encrypted and with the same retention as the databases (docs/operations.md).
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from pathlib import Path

from sqlalchemy.engine import make_url

from referrals.config import Settings


def _targets(settings: Settings) -> dict[str, str]:
    from bot.stores import tracker_store_url

    return {"referrals": settings.database_url, "conversations": tracker_store_url(settings)}


def _libpq(url: str) -> tuple[str, dict[str, str]]:
    u = make_url(url)
    env = {**os.environ}
    if u.password:
        env["PGPASSWORD"] = u.password
    plain = u.set(drivername="postgresql", password=None).render_as_string(hide_password=False)
    return plain, env


def _sqlite_copy(src: str, dest: str) -> None:
    with sqlite3.connect(src) as source, sqlite3.connect(dest) as target:
        source.backup(target)
    source.close()
    target.close()


def backup(settings: Settings, directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    os.chmod(directory, 0o700)
    written = []
    for name, url in _targets(settings).items():
        u = make_url(url)
        if u.get_backend_name() == "sqlite":
            out = directory / f"{name}.db"
            if Path(u.database).exists():
                _sqlite_copy(u.database, str(out))
                written.append(out)
        else:
            out = directory / f"{name}.dump"
            plain, env = _libpq(url)
            subprocess.run([_tool("pg_dump"), "--format=custom", "--no-owner", "--file", str(out), "--dbname", plain],
                           env=env, check=True, capture_output=True)
            written.append(out)
    return written


def restore(settings: Settings, directory: Path) -> list[str]:
    """Put both databases back as they were at the backup. Stop the assistant first."""
    restored = []
    for name, url in _targets(settings).items():
        u = make_url(url)
        if u.get_backend_name() == "sqlite":
            src = directory / f"{name}.db"
            if src.exists():
                Path(u.database).parent.mkdir(parents=True, exist_ok=True)
                _sqlite_copy(str(src), u.database)
                restored.append(name)
        else:
            src = directory / f"{name}.dump"
            if src.exists():
                plain, env = _libpq(url)
                subprocess.run([_tool("pg_restore"), "--clean", "--if-exists", "--no-owner", "--dbname", plain,
                                str(src)], env=env, check=True, capture_output=True)
                restored.append(name)
    return restored


def _tool(name: str) -> str:
    path = shutil.which(name)
    if not path:
        raise SystemExit(f"{name} not found: install the PostgreSQL client (apt-get install postgresql-client)")
    return path
