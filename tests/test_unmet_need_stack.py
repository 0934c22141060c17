"""Unmet need through the real gateway, Rasa, action server and database (SQLite and PostgreSQL): a
resident texts for a job, is shown programs, answers "No thanks", and the anonymous unmet-need log gets
one "declined" row that holds nothing of them."""

from __future__ import annotations

from sqlalchemy import select

from referrals.db import make_engine, make_sessionmaker
from referrals.models import ReferralCase, UnmetNeedEntry
from referrals.vault import pseudonym
from tests.chat import Texter
from tests.conftest import TWILIO_TEST_TOKEN


def unmet_rows(gateway) -> list[UnmetNeedEntry]:
    engine = make_engine(gateway.stack.database_url)
    try:
        with make_sessionmaker(engine)() as s:
            return list(s.scalars(select(UnmetNeedEntry).order_by(UnmetNeedEntry.id)))
    finally:
        engine.dispose()


def test_no_thanks_over_sms_is_logged_as_declined_unmet_need_with_nothing_of_the_resident(gateway):
    before = {r.id for r in unmet_rows(gateway)}
    t = Texter(gateway.url, TWILIO_TEST_TOKEN)
    t.say("i need a job")
    reply = t.say("47102")
    if "how old" in reply.lower():
        reply = t.say("prefer not to say")
    assert "1." in reply and "2." in reply, t.show()
    reply = t.say("no thanks")
    assert "won't share your details" in reply, t.show()

    new = [r for r in unmet_rows(gateway) if r.id not in before]
    assert [(r.reason, r.need, r.language, r.channel) for r in new] == [("declined", "employment", "en", "sms")]
    row = new[0]
    who = pseudonym(gateway.env["PSEUDONYM_KEY"], "sms", t.phone)
    values = [str(getattr(row, c)) for c in ("reason", "need", "neighborhood", "age_band", "language",
                                             "channel", "occurred_at")]
    for secret in (who, t.phone, t.phone.removeprefix("+1"), "47102", "job"):
        assert not any(secret in v for v in values), (secret, values)
    assert (row.occurred_at.hour, row.occurred_at.minute, row.occurred_at.second) == (0, 0, 0), "the day only"

    engine = make_engine(gateway.stack.database_url)
    try:
        with make_sessionmaker(engine)() as s:
            assert s.scalars(select(ReferralCase).where(ReferralCase.resident_pseudonym == who)).all() == []
    finally:
        engine.dispose()
