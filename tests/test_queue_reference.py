"""Issue 13, item 3: the reference a resident was given finds their referral, and the queue marks referrals
whose promised contact ("within 2 business days") is past. Real portal over HTTP, SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy import update

from referrals.models import ReferralCase
from referrals.response_due import due_on, normalize_reference, overdue
from tests.test_portal import Portal, portal  # noqa: F401  (portal is a fixture)

ZONE = "America/Indiana/Indianapolis"


def test_two_business_days_skip_the_weekend():
    def case(created: datetime, status: str = "new") -> ReferralCase:
        return ReferralCase(id="x", created_at=created, status=status)
    wednesday = datetime(2026, 12, 2, 15, tzinfo=timezone.utc)
    friday_evening = datetime(2026, 12, 4, 23, tzinfo=timezone.utc)  # 6 PM in Indianapolis: still Friday
    assert due_on(case(wednesday), ZONE).isoformat() == "2026-12-04"
    assert due_on(case(friday_evening), ZONE).isoformat() == "2026-12-08"
    saturday = datetime(2026, 12, 5, 15, tzinfo=timezone.utc)
    assert overdue(case(wednesday), ZONE, saturday) and not overdue(case(wednesday), ZONE, wednesday)
    assert not overdue(case(wednesday, "contacted"), ZONE, saturday), "a contact keeps the promise"
    assert [normalize_reference(r) for r in ("DF3D3CE3", "ref. df3d 3ce3", "DF3D", "zzzzzzzz")] == [
        "df3d3ce3", "df3d3ce3", None, None]


def test_the_queue_marks_overdue_referrals(portal: Portal):
    late, fresh = portal.referral(), portal.referral()
    with portal.sessions.begin() as s:
        s.execute(update(ReferralCase).where(ReferralCase.id == late)
                  .values(created_at=datetime.now(timezone.utc) - timedelta(days=13)))
    page = portal.client("caseworker").get("/queue").text
    row = lambda ref: page[page.index(f'data-referral="{ref}"'):].split("</tr>")[0]  # noqa: E731
    assert "overdue (due " in row(late) and "overdue" not in row(fresh)


def test_the_reference_finds_the_referral_only_for_those_who_may_see_it(portal: Portal):
    ref = portal.referral()
    caseworker = portal.client("caseworker")
    for typed in (ref[:8].upper(), f"ref. {ref[:4]} {ref[4:8]}"):
        response = caseworker.get("/queue", params={"ref": typed})
        assert response.status_code == 303 and response.headers["Location"] == f"/referrals/{ref}"
    outsider = portal.client("outsider").get("/queue", params={"ref": ref[:8].upper()})
    assert outsider.status_code == 200 and f"No referral with reference {ref[:8].upper()}" in outsider.text
    assert ref not in outsider.text


def test_supervisors_see_time_to_answer_by_language_with_small_groups_suppressed(portal: Portal):
    """From the anonymous handoff log: 12 answers in English (2 to 13 minutes), 3 in Spanish."""
    from referrals.models import HandoffLogEntry
    from tests.test_portal import ORG

    today = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    with portal.sessions.begin() as s:
        for i in range(12):
            s.add(HandoffLogEntry(event="answered", team=ORG, channel="sms", language="en", neighborhood="Eastside",
                                  crisis=False, wait_seconds=(i + 2) * 60, occurred_on=today))
        for _ in range(3):
            s.add(HandoffLogEntry(event="answered", team=ORG, channel="web", language="es", neighborhood="Westside",
                                  crisis=False, wait_seconds=600, occurred_on=today))
    page = portal.client("supervisor").get("/live").text
    table = page[page.index('data-by="language"'):].split("</table>")[0]
    assert "<td>en</td><td>7.5 min</td>" in table and "<td>es</td><td>fewer than 11 answered</td>" in table
    assert "10.0 min" not in page, "the small group's figure is not shown"
    assert "Time to answer" not in portal.client("caseworker").get("/live").text
