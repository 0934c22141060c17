"""Command line of the referral store: `python -m referrals db upgrade | directory validate|load|export|serve |
users add|list|disable|enable | portal`."""

from __future__ import annotations

import argparse
import json
import sys

from referrals import staff
from referrals.config import Settings
from referrals.db import make_engine, make_sessionmaker
from referrals.intake import load_programs
from referrals.directory import DirectoryError, export_document, read_directory
from referrals.need_mapping import MappingError
from referrals.reports import add_report_arguments, run_report_command
from referrals.sample_data import add_sample_arguments, run_sample_command
from referrals.store import load_feed, upgrade


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m referrals")
    sub = parser.add_subparsers(dest="area", required=True)
    db = sub.add_parser("db", help="database schema").add_subparsers(dest="command", required=True)
    db.add_parser("upgrade", help="create or migrate the schema (Alembic) at DATABASE_URL")
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
    staff.add_cli(sub)
    sub.add_parser("portal", help="run the caseworker portal on PORTAL_HOST:PORTAL_PORT")
    rep = sub.add_parser("report", help="equity releases: publish, list, show, audit (small counts suppressed)")
    add_report_arguments(rep)
    add_sample_arguments(sub.add_parser("sample-data", help="fill the database with a synthetic year of referrals"))
    pg = sub.add_parser("purge", help="delete referral cases and contact-vault entries past the retention period")
    pg.add_argument("--days", type=int, help="retention in days after the last activity (default: RETENTION_DAYS)")
    sub.add_parser("followups", help="send the follow-up texts that are due (closed cases, with consent)")
    from referrals import keys as vault_keys_cli
    vault_keys_cli.add_cli(sub)
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    if args.area == "followups":
        from referrals.followups import run_command
        return run_command(settings)
    if args.area == "keys":
        return vault_keys_cli.run_cli(args, settings)
    if args.area == "purge":
        return run_purge(settings, args.days)
    if args.area == "users":
        return staff.run_cli(args, settings.database_url)
    if args.area == "report":
        return run_report_command(args, settings)
    if args.area == "sample-data":
        return run_sample_command(args, settings)
    if args.area == "portal":
        from referrals.portal.app import run
        return run(settings)

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
            upgrade(settings.database_url)
            engine = make_engine(settings.database_url)
            directory, changes = load_feed(engine, feed_sources(args),
                                           args.neighborhoods or settings["NEIGHBORHOODS_FILE"],
                                           args.mapping or settings["NEED_MAPPING_FILE"],
                                           timeout=args.timeout, per_page=args.per_page)
            engine.dispose()
            print(f"loaded {len(directory.programs)} services from {directory.source}")
            print(directory.report())
            print(changes.text())
        elif args.command == "serve":
            from referrals.hsds_api import run
            return run(settings, port=args.port)
        elif args.command == "export":
            engine = make_engine(settings.database_url)
            with make_sessionmaker(engine)() as session:
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
    upgrade(settings.database_url)
    engine = make_engine(settings.database_url)
    with make_sessionmaker(engine).begin() as session:
        removed = purge_expired(session, days)
    engine.dispose()
    from bot.stores import purge_conversations  # Rasa's idle conversations and the gateway's state

    removed.update(purge_conversations(settings, days))
    print(f"purged what had no activity for {days} days: "
          + ", ".join(f"{n} {name}" for name, n in removed.items()) + "; the anonymous referral log is kept")
    return 0


if __name__ == "__main__":
    sys.exit(main())
