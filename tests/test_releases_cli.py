"""`python -m referrals report publish | list | show | audit` as a scheduled job would run them (SQLite)."""

from __future__ import annotations

from referrals.db import make_engine
from tests.test_releases import _load
from tests.test_reports import run_cli


def test_report_commands_publish_list_show_and_audit(tmp_path):
    from referrals.store import upgrade

    url = f"sqlite:///{tmp_path / 'r.db'}"
    upgrade(url)
    engine = make_engine(url)
    _load(engine, 120)
    engine.dispose()
    out = run_cli(url, "report", "publish", "--today", "2026-03-05")
    assert out.returncode == 0, out.stderr
    assert "release(s) published" in out.stdout and "published 2026-01 revision 1" in out.stderr
    listing = run_cli(url, "report", "list")
    assert "2026-02    revision 1" in listing.stdout and "\n2026-03 " not in "\n" + listing.stdout, "March has not ended"
    text = run_cli(url, "report", "show", "2026-01")
    assert text.returncode == 0 and "Release: 2026-01 (month, 2026-01-01 to 2026-01-31), revision 1" in text.stdout
    assert "Outcomes still being recorded" in text.stdout
    csv_out = run_cli(url, "report", "show", "2026-01", "--csv")
    assert csv_out.stdout.startswith("dimension,group,")
    assert run_cli(url, "report", "show", "2026-01", "--csv").stdout == csv_out.stdout, "stored, so identical"
    again = run_cli(url, "report", "publish", "--today", "2026-03-05")
    assert "0 release(s) published" in again.stdout
    audit = run_cli(url, "report", "audit")
    assert audit.returncode == 0 and "below 5" in audit.stdout and " 0 below 5" in audit.stdout
    bad = run_cli(url, "report", "show", "2026-3")
    assert bad.returncode == 2 and "not a release period" in bad.stderr and "Traceback" not in bad.stderr
    missing = run_cli(url, "report", "show", "2026-03")
    assert missing.returncode == 1 and "no release 2026-03" in missing.stderr
    old = run_cli(url, "report", "--from", "2026-01-01")
    assert old.returncode == 2 and "Traceback" not in old.stderr, "no date ranges any more"
