"""`python -m referrals keys check|rotate|new`: the contact vault's keys."""

from __future__ import annotations

from referrals.cli import database
from referrals.keys import check_entries, new_key_entry, rotate
from referrals.vault import KeyMissing, Vault


def add_cli(sub) -> None:  # noqa: ANN001 (argparse's private subparsers type)
    keys = sub.add_parser("keys", help="contact-vault keys: check, rotate, new").add_subparsers(
        dest="command", required=True)
    keys.add_parser("check", help="try every stored contact with the configured keys")
    keys.add_parser("rotate", help="re-encrypt every stored contact under the newest key (first in VAULT_KEYS)")
    new = keys.add_parser("new", help="print a new 'id:key' entry for VAULT_KEYS")
    new.add_argument("--id", help="key id (1-16 letters, digits, - or _); default: year, month and 4 hex digits")


def run_cli(args, settings) -> int:  # noqa: ANN001
    import sys

    from referrals.vault import KEY_ID_RE

    if args.command == "new":
        if args.id and not KEY_ID_RE.match(args.id):
            print("--id must be 1-16 letters, digits, '-' or '_'", file=sys.stderr)
            return 2
        print(new_key_entry(args.id))
        return 0
    try:
        vault = Vault.from_settings(settings)
    except KeyMissing as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    with database(settings.database_url) as (_, sessions):
        if args.command == "check":
            with sessions() as session:
                result = check_entries(session, vault)
            keys = ", ".join(f"{n} under {kid}" for kid, n in sorted(result.by_key.items())) or "none stored"
            print(f"{result.checked} contacts checked ({keys}); {result.failed} do not open")
            return 1 if result.failed else 0
        try:
            counts = rotate(sessions, vault)
        except KeyMissing as exc:
            print(f"error: nothing was changed: {exc}", file=sys.stderr)
            return 1
        print(f"re-encrypted {counts['resealed']} of {counts['entries']} contacts under key {vault.current_id}; "
              "run 'keys check', then the old key can leave VAULT_KEYS")
        return 0
