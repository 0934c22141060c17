"""Scale-out on Rasa's documented path, on this machine (issue 11): HAProxy (Debian's package) in front
of two gateways and of two Rasa servers; both Rasa servers on the PostgreSQL tracker store and the
Redis lock store; two action servers; the gateways keep their per-conversation state in Redis.
Turns land on alternating replicas; then one Rasa is killed with SIGKILL mid-conversation and the
next turn is answered by the other, where the conversation was. The topology is bot/scaleout.py's, which
`make bench` measures too."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from bot.scaleout import Scaled, haproxy_served, topology
from bot.stack import TWILIO_TEST_TOKEN
from referrals.db import make_engine, make_sessionmaker
from referrals.models import ReferralCase
from referrals.vault import pseudonym
from tests.chat import Texter, answer_questions, pick


@pytest.fixture(scope="module")
def scaled(model, pg_url):
    with topology(model, pg_url) as s:
        yield s


def resident(scaled: Scaled) -> Texter:
    t = Texter(scaled.url, TWILIO_TEST_TOKEN)
    scaled.residents.add(pseudonym(scaled.key, "sms", t.phone))  # their Redis state is removed at the end
    return t


def referrals_of(scaled: Scaled, t: Texter) -> int:
    engine = make_engine(scaled.database_url)
    try:
        with make_sessionmaker(engine)() as s:
            return s.scalar(select(func.count()).select_from(ReferralCase).where(
                ReferralCase.resident_pseudonym == pseudonym(scaled.key, "sms", t.phone)))
    finally:
        engine.dispose()


def to_referral(t: Texter) -> str:
    assert "zip code" in t.say("i need a job").lower(), t.show()
    reply = answer_questions(t.say, t.say("47104"))
    assert "2 business days" in reply, t.show()
    return t.say("1")


def test_turns_on_alternating_replicas_reach_stored_referrals(scaled):
    residents = [resident(scaled) for _ in range(3)]
    for t in residents:
        reply = to_referral(t)
        assert "reference is" in reply, t.show()
        assert all("pick one of the options" not in r.lower() for _, r in t.transcript), t.show()
        assert referrals_of(scaled, t) == 1
    served = haproxy_served(scaled.sock)
    assert served["g1"] > 3 and served["g2"] > 3, served
    assert served["r1"] > 3 and served["r2"] > 3, served


def test_a_rasa_killed_mid_conversation_the_other_answers_where_it_was(scaled):
    t = resident(scaled)
    assert "zip code" in t.say("i need a job").lower()
    question = t.say("47104")
    assert "how old" in question.lower(), t.show()
    victim = scaled.rasas[0]
    victim.kill()
    victim.wait()
    reply = t.say(pick(question, "25 to 54"))
    assert "try again" not in reply and "how old" not in reply.lower(), t.show()
    reply = answer_questions(t.say, reply)
    assert "2 business days" in reply, t.show()
    assert "reference is" in t.say("1"), t.show()
    assert referrals_of(scaled, t) == 1
