"""The command line, `python -m referrals ...` (referrals/__main__.py builds the parser from these modules).

One module per area, each with an `add_*` function that declares its arguments and a `run_*` function
that carries it out and returns the exit code: `directory` (validate, load, export, serve; `db upgrade`;
`purge`), `staff` (`users`), `report`, `sample_data` (`sample-data`), `keys`, `followups`. A command
opens the database one way, with `database` below.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from referrals.db import make_engine, make_sessionmaker


@contextmanager
def database(url: str, *, migrate: bool = False, **engine_kwargs: Any
             ) -> Iterator[tuple[Engine, sessionmaker[Session]]]:
    """The engine and session factory of the database at `url`, disposed of on the way out; with `migrate`,
    the schema is brought to the newest migration first."""
    if migrate:
        from referrals.store import upgrade

        upgrade(url)
    engine = make_engine(url, **engine_kwargs)
    try:
        yield engine, make_sessionmaker(engine)
    finally:
        engine.dispose()
