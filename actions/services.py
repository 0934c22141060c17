"""What the actions need from the outside world, built on first use (no I/O at import time).

The action server is one long-lived process: one engine, one language detector, and the program
directory cached for a short time (a directory reload shows up within `DIRECTORY_TTL` seconds).
Tests call `reset()` after pointing DATABASE_URL somewhere else.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import lru_cache

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from referrals.config import ROOT, Settings
from referrals.db import make_engine, make_sessionmaker
from referrals.intake import load_neighborhoods_table, load_programs
from referrals.directory import Program
from referrals.language import LanguageDetector

DIRECTORY_TTL = 30.0


@dataclass
class Services:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    _directory: tuple[float, list[Program], dict[str, str]] | None = field(default=None)

    def directory(self) -> tuple[list[Program], dict[str, str]]:
        now = time.monotonic()
        if self._directory is None or now - self._directory[0] > DIRECTORY_TTL:
            with self.sessions() as session:
                programs = load_programs(session, stale_days=int(self.settings["DIRECTORY_STALE_DAYS"]))
                self._directory = (now, programs, load_neighborhoods_table(session))
        return self._directory[1], self._directory[2]


@lru_cache(maxsize=1)
def services() -> Services:
    settings = Settings.from_env()
    engine = make_engine(settings.database_url, pool_pre_ping=True)
    return Services(settings=settings, engine=engine, sessions=make_sessionmaker(engine))


@lru_cache(maxsize=1)
def detector() -> LanguageDetector:
    return LanguageDetector.from_nlu_dir(ROOT / "data" / "nlu")


def reset() -> None:
    if services.cache_info().currsize:
        services().engine.dispose()
    services.cache_clear()
