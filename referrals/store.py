"""Database lifecycle: migrate with Alembic, load the directory, hand out sessions."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Engine

from referrals.config import Settings
from referrals.db import load_programs, make_engine, make_sessionmaker, replace_directory
from referrals.directory import load_directory_file, load_neighborhoods

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


def load_directory(engine: Engine, directory_file: str | Path, neighborhoods_file: str | Path) -> int:
    """Validate the whole file first, then replace the directory in one transaction."""
    programs = load_directory_file(directory_file)
    neighborhoods = load_neighborhoods(neighborhoods_file)
    with make_sessionmaker(engine).begin() as session:
        return replace_directory(session, programs, neighborhoods)


def prepare(settings: Settings) -> Engine:
    """Migrate, and load the configured directory when the database has none yet."""
    upgrade(settings.database_url)
    engine = make_engine(settings.database_url)
    with make_sessionmaker(engine)() as session:
        empty = not load_programs(session)
    if empty:
        load_directory(engine, settings["DIRECTORY_FILE"], settings["NEIGHBORHOODS_FILE"])
    return engine
