"""`python -m referrals followups`: send the follow-up texts that are due (a cron job)."""

from __future__ import annotations

from referrals.cli import database
from referrals.config import Settings
from referrals.followups import send_due


def run_command(settings: Settings) -> int:
    """Exit 0 when every due follow-up went out (or was rightly skipped), 1 when any send failed (cron and
    monitoring see it; the failed ones are tried again next run), 2 when the vault keys are wrong."""
    import sys

    from referrals.keys import check_vault
    from referrals.vault import KeyMissing, Vault

    with database(settings.database_url) as (_, sessions):
        try:
            check_vault(sessions, Vault.from_settings(settings))
        except KeyMissing as exc:
            print(f"follow-ups not sent: {exc}", file=sys.stderr)
            return 2
        counts = send_due(settings, sessions)
    mode = "Twilio" if settings["TWILIO_ACCOUNT_SID"] and settings["TWILIO_FROM_NUMBER"] else "the log only"
    print(f"follow-ups via {mode}: " + (", ".join(f"{n} {k}" for k, n in sorted(counts.items())) or "none due"))
    if counts.get("failed"):
        print(f"{counts['failed']} follow-up(s) failed to send; they are tried again on the next run",
              file=sys.stderr)
        return 1
    return 0
