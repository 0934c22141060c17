"""`python -m referrals db upgrade | directory validate|load|export|serve | purge`: the schema, the HSDS
program directory, and the retention purge."""

from __future__ import annotations

import argparse
import json
import sys

from referrals.cli import database
from referrals.config import Settings
from referrals.directory import DirectoryError, export_document, read_directory
from referrals.intake import load_programs
from referrals.need_mapping import MappingError
from referrals.store import load_feed, upgrade


def add_db_arguments(sub: argparse._SubParsersAction) -> None:
    db = sub.add_parser("db", help="database schema").add_subparsers(dest="command", required=True)
    db.add_parser("upgrade", help="create or migrate the schema (Alembic) at DATABASE_URL")


def add_directory_arguments(sub: argparse._SubParsersAction) -> None:
    d = sub.add_parser("directory", help="the HSDS program directory").add_subparsers(dest="command", required=True)
    v = d.add_parser("validate", help="check an HSDS 3.0 feed; print every problem, or the load report")
    add_feed_arguments(v)
    ld = d.add_parser("load", help="validate a feed, then update the directory in the database (all or nothing)")
    add_feed_arguments(ld)
    ld.add_argument("--neighborhoods", help="zip,neighborhood CSV (default: NEIGHBORHOODS_FILE)")
    sv = d.add_parser("serve", help="serve the directory as a read-only HSDS 3.0 API on HSDS_API_HOST:HSDS_API_PORT")
    sv.add_argument("--port", type=int, help="port (default: HSDS_API_PORT)")
    ex = d.add_parser("export", help="write the directory in the database as HSDS 3.0 JSON")
    ex.add_argument("file", help="output path, or - for stdout")


def add_purge_arguments(sub: argparse._SubParsersAction) -> None:
    pg = sub.add_parser("purge", help="delete referral cases and contact-vault entries past the retention period")
    pg.add_argument("--days", type=int, help="retention in days after the last activity (default: RETENTION_DAYS)")


def run_directory_command(args: argparse.Namespace, settings: Settings) -> int:
    """`db upgrade` and the `directory` commands; exit 1 on a feed with problems."""
    try:
        if args.area == "db":
            upgrade(settings.database_url)
            print(f"database at head: {settings.database_url.split('@')[-1]}")
        elif args.command == "validate":
            directory = read_directory(feed_sources(args), args.mapping or settings["NEED_MAPPING_FILE"],
                                       timeout=args.timeout, per_page=args.per_page)
            print(f"{directory.source}: valid HSDS 3.0 directory, {len(directory.programs)} services")
            print(directory.report())
        elif args.command == "load":
            with database(settings.database_url, migrate=True) as (engine, _):
                directory, changes = load_feed(engine, feed_sources(args),
                                               args.neighborhoods or settings["NEIGHBORHOODS_FILE"],
                                               args.mapping or settings["NEED_MAPPING_FILE"],
                                               timeout=args.timeout, per_page=args.per_page)
            print(f"loaded {len(directory.programs)} services from {directory.source}")
            print(directory.report())
            print(changes.text())
        elif args.command == "serve":
            from referrals.hsds_api import run
            return run(settings, port=args.port)
        elif args.command == "export":
            with database(settings.database_url) as (_, sessions), sessions() as session:
                doc = export_document(load_programs(session), settings["CITY_NAME"])
            out = json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
            if args.file == "-":
                sys.stdout.write(out)
            else:
                with open(args.file, "w", encoding="utf-8") as fh:
                    fh.write(out)
                print(f"exported {len(doc['services'])} services to {args.file}")
    except (DirectoryError, MappingError) as exc:
        print(str(exc), file=sys.stderr)
        return 1
    return 0


def add_feed_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", nargs="+", help="an HSDS 3.0 JSON file (directory, service, organization, array "
                        "or API page); several page files in order; a folder or .zip of HSDS CSV files; or the "
                        "base URL of an HSDS 3.0 API (http(s)://...)")
    parser.add_argument("--mapping", help="need mapping CSV or YAML (default: NEED_MAPPING_FILE)")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds per API request (default 10)")
    parser.add_argument("--per-page", type=int, default=100, help="services per API page requested (default 100)")


def feed_sources(args: argparse.Namespace) -> str | list[str]:
    return args.file[0] if len(args.file) == 1 else list(args.file)


def run_purge(settings: Settings, days: int | None) -> int:
    from referrals.privacy import purge_expired

    days = days if days is not None else int(settings["RETENTION_DAYS"])
    if days < 1:
        print("--days must be at least 1", file=sys.stderr)
        return 2
    with database(settings.database_url, migrate=True) as (_, sessions), sessions.begin() as session:
        removed = purge_expired(session, days)
    from bot.stores import purge_conversations  # Rasa's idle conversations and the gateway's state

    removed.update(purge_conversations(settings, days))
    print(f"purged what had no activity for {days} days: "
          + ", ".join(f"{n} {name}" for name, n in removed.items()) + "; the anonymous referral log is kept")
    return 0
