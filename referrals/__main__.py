"""Command line of the referral store: `python -m referrals db upgrade | directory validate|load|export|serve |
users add|list|disable|enable | portal`. The commands themselves are in referrals/cli/."""

from __future__ import annotations

import argparse
import sys

from referrals.cli import directory, followups, keys, report, sample_data, staff
from referrals.config import Settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m referrals")
    sub = parser.add_subparsers(dest="area", required=True)
    directory.add_db_arguments(sub)
    directory.add_directory_arguments(sub)
    staff.add_cli(sub)
    sub.add_parser("portal", help="run the caseworker portal on PORTAL_HOST:PORTAL_PORT")
    rep = sub.add_parser("report", help="equity releases: publish, list, show, audit (small counts suppressed)")
    report.add_report_arguments(rep)
    sample_data.add_sample_arguments(sub.add_parser("sample-data",
                                                    help="fill the database with a synthetic year of referrals"))
    directory.add_purge_arguments(sub)
    sub.add_parser("followups", help="send the follow-up texts that are due (closed cases, with consent)")
    keys.add_cli(sub)
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    if args.area == "followups":
        return followups.run_command(settings)
    if args.area == "keys":
        return keys.run_cli(args, settings)
    if args.area == "purge":
        return directory.run_purge(settings, args.days)
    if args.area == "users":
        return staff.run_cli(args, settings.database_url)
    if args.area == "report":
        return report.run_report_command(args, settings)
    if args.area == "sample-data":
        return sample_data.run_sample_command(args, settings)
    if args.area == "portal":
        from referrals.portal.app import run
        return run(settings)
    return directory.run_directory_command(args, settings)


if __name__ == "__main__":
    sys.exit(main())
