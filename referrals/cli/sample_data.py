"""`python -m referrals sample-data`: fill the database with a synthetic year of referrals."""

from __future__ import annotations

from sqlalchemy import make_url

from referrals.sample_data import (DEFAULT_REFERRALS, MAX_REFERRALS, OPEN_DAYS, SampleDataError,
                                   load_sample_data)


def add_sample_arguments(parser) -> None:
    parser.add_argument("--rows", type=int, default=DEFAULT_REFERRALS,
                        help=f"number of referrals to make (default {DEFAULT_REFERRALS}); each writes 1 to 5 "
                        "log rows")
    parser.add_argument("--seed", type=int, default=1, help="random seed (same seed, same data)")
    parser.add_argument("--replace", action="store_true", help="delete earlier sample data first")
    parser.add_argument("--allow-real", action="store_true",
                        help="write sample data even though the database has real residents")


def run_sample_command(args, settings, out=print) -> int:
    """`python -m referrals sample-data`: migrate, load the directory if empty, write the sample."""
    import sys

    from sqlalchemy.exc import SQLAlchemyError

    from referrals.store import prepare

    if not 1 <= args.rows <= MAX_REFERRALS:
        print(f"sample-data: --rows must be between 1 and {MAX_REFERRALS}", file=sys.stderr)
        return 2
    try:
        engine = prepare(settings)
    except SQLAlchemyError as exc:
        where = make_url(settings.database_url).render_as_string(hide_password=True)
        print(f"sample-data: cannot use the database at {where} ({type(exc.orig or exc).__name__})",
              file=sys.stderr)
        return 1
    try:
        from referrals.vault import vault_keys

        loaded = load_sample_data(engine, args.rows, args.seed, args.replace, vault_keys(settings),
                                  allow_real=args.allow_real)
    except SampleDataError as exc:
        print(f"sample-data: {exc}", file=sys.stderr)
        return 1
    finally:
        engine.dispose()
    if loaded.replaced:
        out(f"removed the earlier sample data ({loaded.replaced} synthetic residents)")
    out(f"wrote {loaded.referrals} synthetic referrals of {loaded.residents} residents "
        f"({loaded.log_rows} log rows); {loaded.open_cases} cases from the last {OPEN_DAYS} days are open")
    if not loaded.contacts:
        out("no contact details written (VAULT_KEY is not set)")
    out("equity releases come from: python -m referrals report publish (about a minute for a year)")
    return 0
