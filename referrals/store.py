"""Database lifecycle: migrate with Alembic, load the directory, hand out sessions."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Engine

from referrals.config import Settings
from referrals.db import make_engine, make_sessionmaker
from referrals.intake import DirectoryChanges, load_programs, update_directory
from referrals.directory import Directory, load_neighborhoods, read_directory

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str) -> None:
    """Bring the database at `url` to the newest schema."""
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    command.upgrade(alembic_config(url), "head")


def load_directory(engine: Engine, directory_file: str | Path, neighborhoods_file: str | Path | None,
                   mapping: str | Path | None = None) -> int:
    """Validate the whole feed first, then update the directory in one transaction; the number of services."""
    directory, _ = load_feed(engine, directory_file, neighborhoods_file, mapping)
    return len(directory.programs)


def load_feed(engine: Engine, sources: str | Path | list, neighborhoods_file: str | Path | None,
              mapping: str | Path | None = None, *, timeout: float = 10.0,
              per_page: int = 100) -> tuple[Directory, DirectoryChanges]:
    """Read and validate a whole feed (any shape hsds_feed reads), then apply it in one transaction.

    Nothing half-loads: a feed with any problem raises DirectoryError before the database is touched, and
    a failure while writing rolls the whole transaction back.
    """
    directory = read_directory(sources, mapping, timeout=timeout, per_page=per_page)
    neighborhoods = load_neighborhoods(neighborhoods_file) if neighborhoods_file else None
    with make_sessionmaker(engine).begin() as session:
        changes = update_directory(session, directory.programs, directory.eligibility, neighborhoods,
                                   partial=directory.partial)
    return directory, changes


def prepare(settings: Settings) -> Engine:
    """Migrate, and load the configured directory when the database has none yet."""
    upgrade(settings.database_url)
    engine = make_engine(settings.database_url)
    with make_sessionmaker(engine)() as session:
        empty = not load_programs(session)
    if empty:
        load_directory(engine, settings["DIRECTORY_FILE"], settings["NEIGHBORHOODS_FILE"],
                       settings["NEED_MAPPING_FILE"])
    return engine
