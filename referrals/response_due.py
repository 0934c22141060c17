"""The promise made to a resident at referral: "a caseworker will contact you within 2 business days".

The queue marks a referral overdue once that day has passed (in the city's time zone) while nobody has
recorded a contact yet (status new or claimed). Holidays are not counted out: the mark may come a day early
around one, never late. The reference a resident was given is the first 8 characters of the case id, in upper
case; `by_reference` finds the case from it.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from referrals.models import ReferralCase, as_utc, utcnow

PROMISED_BUSINESS_DAYS = 2
NOT_YET_CONTACTED = ("new", "claimed")
REFERENCE = re.compile(r"^[0-9a-f]{8}$")


def business_days_after(day: date, n: int) -> date:
    while n:
        day += timedelta(days=1)
        if day.weekday() < 5:
            n -= 1
    return day


def due_on(case: ReferralCase, zone: str) -> date:
    return business_days_after(as_utc(case.created_at).astimezone(ZoneInfo(zone)).date(), PROMISED_BUSINESS_DAYS)


def overdue(case: ReferralCase, zone: str, now: datetime | None = None) -> bool:
    today = (now or utcnow()).astimezone(ZoneInfo(zone)).date()
    return case.status in NOT_YET_CONTACTED and today > due_on(case, zone)


def normalize_reference(text: str) -> str | None:
    """'df3d 3ce3', 'DF3D3CE3', 'ref. DF3D3CE3' -> 'df3d3ce3'; None when it cannot be a reference."""
    cleaned = re.sub(r"[^0-9a-z]", "", text.lower().removeprefix("ref"))
    return cleaned if REFERENCE.match(cleaned) else None


def by_reference(session: Session, reference: str) -> list[ReferralCase]:
    """The cases whose id starts with the reference (one, unless two ids share 8 hex digits)."""
    ref = normalize_reference(reference)
    if ref is None:
        return []
    return list(session.scalars(select(ReferralCase).where(ReferralCase.id.like(ref + "%")).limit(5)))
