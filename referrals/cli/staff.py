"""`python -m referrals users add|list|disable|enable|reset-mfa`: staff accounts on the command line."""

from __future__ import annotations

import argparse
import getpass
import sys
from dataclasses import dataclass
from typing import Callable, Iterable, TextIO

from referrals.accounts import (MIN_PASSWORD, ROLES, StaffError, audit, check_password, create_user, find_user,
                                list_users, reset_mfa, set_active)
from referrals.cli import database
from referrals.models import StaffUser


def add_cli(sub: argparse._SubParsersAction) -> None:
    users = sub.add_parser("users", help="staff accounts of the caseworker portal").add_subparsers(
        dest="command", required=True)
    add = users.add_parser("add", help="create an account (asks for the password twice)")
    add.add_argument("username")
    add.add_argument("--role", required=True, choices=ROLES)
    add.add_argument("--org", help="organization, exactly as in the directory (caseworker and supervisor)")
    add.add_argument("--password-stdin", action="store_true",
                     help="read the password from the first line of standard input instead of the terminal")
    users.add_parser("list", help="list accounts")
    for name, text in (("disable", "disable an account and end its sessions"), ("enable", "re-enable an account"),
                       ("reset-mfa", "forget an account's authenticator app and recovery codes (it enrolls again "
                                     "at the next sign-in) and end its sessions")):
        users.add_parser(name, help=text).add_argument("username")


@dataclass
class _Terminal:
    """Where the CLI reads passwords from; a seam for tests that drive the command through stdin."""

    ask: Callable[[str], str] = getpass.getpass
    stdin: TextIO = sys.stdin


def run_cli(args: argparse.Namespace, database_url: str, terminal: _Terminal | None = None) -> int:
    terminal = terminal or _Terminal()
    user: StaffUser | None
    try:
        with database(database_url, migrate=True) as (_, sessions), sessions.begin() as session:
            if args.command == "add":
                password = _read_password(args, terminal)
                user = create_user(session, args.username, args.role, password, args.org)
                audit(session, None, "user_created", detail=f"{user.username} ({user.role}) on the command line")
                print(f"created {user.role} {user.username}" + (f" of {user.organization}" if user.organization else ""))
                print("At the first sign-in to the portal they set up an authenticator app (TOTP) and get "
                      "recovery codes.")
            elif args.command == "list":
                _print_users(list_users(session))
            else:
                user = find_user(session, args.username)
                if user is None:
                    raise StaffError(f"no account {args.username!r}")
                if args.command == "reset-mfa":
                    reset_mfa(session, user)
                    audit(session, None, "mfa_reset", detail=f"{user.username} on the command line")
                    print(f"reset MFA of {user.username}: they enroll an authenticator app at their next sign-in")
                    return 0
                set_active(session, user, args.command == "enable")
                audit(session, None, f"user_{args.command}d", detail=f"{user.username} on the command line")
                print(f"{args.command}d {user.username}")
    except StaffError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


def _read_password(args: argparse.Namespace, terminal: _Terminal) -> str:
    if args.password_stdin:
        line = terminal.stdin.readline()
        password = line[:-1] if line.endswith("\n") else line
        check_password(password, args.username)
        return password
    password = terminal.ask(f"Password for {args.username} (at least {MIN_PASSWORD} characters): ")
    check_password(password, args.username)
    if terminal.ask("The same password again: ") != password:
        raise StaffError("the two passwords differ; nothing was created")
    return password


def _print_users(users: Iterable[StaffUser]) -> None:
    rows = [("username", "role", "organization", "mfa", "state")]
    for u in users:
        state = "disabled" if not u.active else "active"
        rows.append((u.username, u.role, u.organization or "-", "enrolled" if u.mfa_enrolled else "not yet", state))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)) + "  " + r[4])
