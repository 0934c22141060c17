"""Consents and demographics after a referral, through the real Rasa server and action server, over
SQLite and PostgreSQL: what the resident reads, and what lands in `consents` and `referral_log`.

Numbered replies go through the gateway's turn handling (tests.chat), so "1" arrives as the payload of
the first button while "1 4" reaches the NLU as text, as on a phone.
"""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from sqlalchemy import inspect, select, text

from actions.answers import GENDERS, PREFER_NOT, RACE_ETHNICITY, parse_gender, parse_race_ethnicity, parse_yes_no
from actions.messages import TEXTS
from referrals.db import make_engine, make_sessionmaker
from referrals.models import Consent, ReferralCase, ReferralLogEntry, Resident
from referrals.reports.dimensions import GENDER_LABELS, RACE_ETHNICITY_LABELS
from referrals.language import fold
from tests.chat import Resident as Chat
from tests.chat import pick

EN, ES = TEXTS["en"], TEXTS["es"]


# --- the parsers on their own -------------------------------------------------------------------

@pytest.mark.parametrize("answer, expected", [
    ("1 4", "american_indian_alaska_native,hispanic_latino"),
    ("1,4", "american_indian_alaska_native,hispanic_latino"),
    ("4, 1", "american_indian_alaska_native,hispanic_latino"),
    ("1 and 4", "american_indian_alaska_native,hispanic_latino"),
    ("3 y 7", "black_african_american,white"),
    ("two", "asian"),
    ("asian", "asian"),  # a button's code
    ("Asian and White", "asian,white"),
    ("soy hispana", "hispanic_latino"),
    ("Middle Eastern", "middle_eastern_north_african"),
    ("8", PREFER_NOT),
    ("prefer not to say", PREFER_NOT),
    ("prefiero no decir", PREFER_NOT),
    ("1 8", None),
    ("9", None),
    ("born in 1985", None),
    ("banana", None),
    ("", None),
])
def test_race_ethnicity_is_select_all_that_apply(answer, expected):
    assert parse_race_ethnicity(answer) == expected


@pytest.mark.parametrize("answer, expected", [
    ("woman", "woman"), ("1", "woman"), ("Female", "woman"), ("mujer", "woman"), ("trans woman", "woman"),
    ("2", "man"), ("hombre", "man"), ("male", "man"),
    ("3", "another"), ("nonbinary", "another"), ("no binario", "another"), ("genderqueer", "another"),
    ("4", PREFER_NOT), ("prefer not to say", PREFER_NOT), ("none of your business", PREFER_NOT),
    ("5", None), ("man and woman", None), ("banana", None),
])
def test_gender_answers(answer, expected):
    assert parse_gender(answer) == expected


@pytest.mark.parametrize("answer, expected", [
    ("yes", "yes"), ("1", "yes"), ("Yes please", "yes"), ("si", "yes"), ("claro", "yes"), ("ok", "yes"),
    ("no", "no"), ("2", "no"), ("no thanks", "no"), ("No gracias", "no"), ("nope", "no"),
    ("not sure", None), ("no se", None), ("3", None), ("banana", None), ("yes no", None),
])
def test_yes_no_answers(answer, expected):
    assert parse_yes_no(answer) == expected


def test_codes_are_the_ones_the_equity_reports_label():
    assert set(RACE_ETHNICITY) == set(RACE_ETHNICITY_LABELS) - {"multiple"}
    assert set(GENDERS) <= set(GENDER_LABELS)


# --- whole conversations ------------------------------------------------------------------------

def chat(stack) -> Chat:
    return Chat(stack.rasa_url, stack.token, actions_secret=stack.actions_secret)


def refer(r: Chat, spanish: bool = False) -> str:
    """Talk our way to a stored referral; the reply to picking the first program."""
    reply = r.say("necesito trabajo, me despidieron" if spanish else "i need a job asap, got laid off")
    for _ in range(3):  # a second request in the same conversation keeps the ZIP code and the age band
        low = fold(reply)
        if "zip" in low:
            reply = r.say("47102")
        elif "how old" in low or "os tiene" in low:
            reply = r.say(pick(reply, "25 a 54" if spanish else "25 to 54"))
        elif "household earn" in low or "gana su hogar" in low:
            reply = r.say(pick(reply, "menos de $35,000" if spanish else "under $35,000"))
        else:
            break
    assert ("2 dias habiles" in fold(reply)) if spanish else ("2 business days" in reply), r.show()
    assert (ES if spanish else EN)["invalid_choice"] not in reply, "the last answer is not re-read as a choice"
    reply = r.say("1")
    assert ("referencia" if spanish else "reference is") in reply, r.show()
    return reply


class Stored:
    """What the database holds about one resident (and, for leaks, everything else)."""

    def __init__(self, stack, sender: str):
        engine = make_engine(stack.database_url)
        try:
            with make_sessionmaker(engine)() as s:
                self.consents = s.scalars(select(Consent).where(Consent.pseudonym == sender)
                                          .order_by(Consent.id)).all()
                self.cases = s.scalars(select(ReferralCase).where(ReferralCase.resident_pseudonym == sender)
                                       .order_by(ReferralCase.created_at)).all()
                resident = s.get(Resident, sender)
                self.log = (s.scalars(select(ReferralLogEntry)
                                      .where(ReferralLogEntry.resident_log_id == resident.log_id)
                                      .order_by(ReferralLogEntry.id)).all() if resident else [])
                self.tables = {name: [tuple(row) for row in s.execute(text(f'SELECT * FROM "{name}"'))]
                               for name in inspect(engine).get_table_names()}
        finally:
            engine.dispose()

    def answers(self) -> list[tuple[str, bool, str, str]]:
        return [(c.scope, c.granted, c.wording, c.language) for c in self.consents]

    def tables_holding(self, value: str) -> set[str]:
        return {name for name, rows in self.tables.items() if any(value in str(row) for row in rows)}


def aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)  # SQLite returns naive UTC


def test_both_consents_then_demographics_are_stored_with_wording_and_only_on_the_log(stack):
    r = chat(stack)
    started = datetime.now(timezone.utc)
    reply = refer(r)
    assert EN["ask_consent_followup"] in reply and "1) Yes or 2) No" in reply, r.show()
    assert "Anything else" not in reply, "the closing question comes after the consents"
    reply = r.say("1")
    assert EN["ask_consent_analytics"] in reply, r.show()
    reply = r.say("yes")
    assert EN["ask_race_ethnicity"] in reply and "5) Middle Eastern or North African" in reply, r.show()
    assert "8) Prefer not to say" in reply
    reply = r.say("1 4")
    assert EN["ask_gender"] in reply and "3) Another gender (e.g. nonbinary)" in reply, r.show()
    reply = r.say("prefer not to say")
    assert "Anything else?" in reply, r.show()
    finished = datetime.now(timezone.utc)

    db = Stored(stack, r.sender)
    assert db.answers() == [("referral", True, EN["ask"], "en"),
                            ("followup", True, EN["ask_consent_followup"], "en"),
                            ("analytics", True, EN["ask_consent_analytics"], "en")]
    assert all(started <= aware(c.recorded_at) <= finished and c.channel == "terminal" for c in db.consents)
    assert [(e.event, e.race_ethnicity, e.gender) for e in db.log] == [
        ("created", "american_indian_alaska_native,hispanic_latino", PREFER_NOT)]
    assert len(db.cases) == 1
    assert db.tables_holding("hispanic_latino") == {"referral_log"}, "never on the case, nor anywhere else"
    assert db.tables_holding(PREFER_NOT) == {"referral_log"}
    assert r.slot("race_ethnicity") is None and r.slot("referral_id") is None, "nothing left in the slots"


def test_declined_consents_ask_no_demographics_and_leave_the_log_without_them(stack):
    r = chat(stack)
    refer(r)
    reply = r.say("2")
    assert EN["ask_consent_analytics"] in reply, r.show()
    reply = r.say("no")
    assert "Anything else?" in reply and "race" not in reply.lower() and "gender" not in reply.lower(), r.show()
    db = Stored(stack, r.sender)
    assert [(scope, granted) for scope, granted, _, _ in db.answers()] == [
        ("referral", True), ("followup", False), ("analytics", False)]
    assert [(e.race_ethnicity, e.gender) for e in db.log] == [(None, None)]


def test_consent_to_follow_up_only_still_asks_no_demographics(stack):
    r = chat(stack)
    refer(r)
    r.say("yes")
    reply = r.say("2")
    assert "Anything else?" in reply and EN["ask_race_ethnicity"] not in reply, r.show()
    db = Stored(stack, r.sender)
    assert [(scope, granted) for scope, granted, _, _ in db.answers()] == [
        ("referral", True), ("followup", True), ("analytics", False)]
    assert [(e.race_ethnicity, e.gender) for e in db.log] == [(None, None)]


def test_a_second_referral_asks_nothing_again_and_carries_the_earlier_answers(stack):
    r = chat(stack)
    refer(r)
    r.say("1")
    r.say("1")
    r.say("asian")
    reply = r.say("woman")
    assert "Anything else?" in reply, r.show()

    reply = refer(r)
    assert "Anything else?" in reply, r.show()
    for question in ("ask_consent_followup", "ask_consent_analytics", "ask_race_ethnicity", "ask_gender"):
        assert EN[question] not in reply
    db = Stored(stack, r.sender)
    assert [scope for scope, _, _, _ in db.answers()] == ["referral", "followup", "analytics", "referral"]
    assert len(db.cases) == 2
    assert [(e.referral_id, e.race_ethnicity, e.gender) for e in db.log] == [
        (db.cases[0].id, "asian", "woman"), (db.cases[1].id, "asian", "woman")]


def test_no_thanks_to_the_referral_asks_no_consent_and_stores_nothing(stack):
    r = chat(stack)
    r.say("i need a job")
    reply = r.say("47102")
    if "how old" in reply.lower():
        reply = r.say("prefer not to say")
    reply = r.say(pick(reply, "No thanks"))
    assert "won't share your details" in reply and EN["ask_consent_followup"] not in reply, r.show()
    db = Stored(stack, r.sender)
    assert db.consents == [] and db.cases == [] and db.log == []


def test_an_answer_not_understood_is_asked_once_more_then_counts_as_no(stack):
    r = chat(stack)
    refer(r)
    reply = r.say("what do you mean")
    assert EN["invalid_choice"] in reply and EN["ask_consent_followup"] in reply, r.show()
    reply = r.say("banana")
    assert EN["ask_consent_analytics"] in reply and EN["invalid_choice"] not in reply, r.show()
    reply = r.say("yes")
    reply = r.say("purple")
    assert EN["invalid_choice"] in reply and EN["ask_race_ethnicity"] in reply, r.show()
    reply = r.say("2")
    reply = r.say("3")
    assert "Anything else?" in reply, r.show()
    db = Stored(stack, r.sender)
    assert [(scope, granted) for scope, granted, _, _ in db.answers()] == [
        ("referral", True), ("followup", False), ("analytics", True)]
    assert [(e.race_ethnicity, e.gender) for e in db.log] == [("asian", "another")]


def test_start_over_during_the_consents_records_none_of_them_and_they_are_asked_next_time(stack):
    r = chat(stack)
    refer(r)
    r.say("yes")
    reply = r.say("start over")
    assert "start over" in reply.lower() and "1) A job" in reply, r.show()
    assert not (r.tracker().get("active_loop") or {}).get("name")
    db = Stored(stack, r.sender)
    assert [scope for scope, _, _, _ in db.answers()] == ["referral"]

    reply = refer(r)
    assert EN["ask_consent_followup"] in reply, r.show()


def test_a_crisis_during_the_consents_gets_the_crisis_reply_and_ends_them(stack):
    r = chat(stack)
    refer(r)
    reply = r.say("yes")
    assert EN["ask_consent_analytics"] in reply, r.show()
    reply = r.say("i want to kill myself")
    assert "988" in reply and "911" in reply and "person" in reply.lower(), r.show()
    assert "Anything else" not in reply and EN["ask_race_ethnicity"] not in reply
    assert not (r.tracker().get("active_loop") or {}).get("name")
    db = Stored(stack, r.sender)
    assert [scope for scope, _, _, _ in db.answers()] == ["referral"]
    assert [(e.race_ethnicity, e.gender) for e in db.log] == [(None, None)]


def test_a_different_need_during_the_consents_starts_its_questions(stack):
    r = chat(stack)
    refer(r)
    reply = r.say("i also want to start saving money")
    assert "zip code" in reply.lower() or "how old" in reply.lower() or "household earn" in reply.lower(), r.show()
    assert r.slot("need") == "savings"
    assert [scope for scope, _, _, _ in Stored(stack, r.sender).answers()] == ["referral"]


def test_spanish_consents_and_demographics(stack):
    r = chat(stack)
    reply = refer(r, spanish=True)
    assert ES["ask_consent_followup"] in reply and "1) Sí" in reply and "2) No" in reply, r.show()
    reply = r.say("si")
    assert ES["ask_consent_analytics"] in reply, r.show()
    reply = r.say("1")
    assert ES["ask_race_ethnicity"] in reply and "4) Hispano o latino" in reply, r.show()
    reply = r.say("4 y 7")
    assert ES["ask_gender"] in reply and "1) Mujer" in reply, r.show()
    reply = r.say("mujer")
    assert "¿Necesita algo más?" in reply, r.show()
    db = Stored(stack, r.sender)
    assert db.answers() == [("referral", True, ES["ask"], "es"),
                            ("followup", True, ES["ask_consent_followup"], "es"),
                            ("analytics", True, ES["ask_consent_analytics"], "es")]
    assert [(e.language, e.race_ethnicity, e.gender) for e in db.log] == [("es", "hispanic_latino,white", "woman")]


def test_each_consent_is_stored_in_the_language_it_was_shown_in(stack):
    r = chat(stack)
    refer(r, spanish=True)
    r.say("1")
    reply = r.say("english")
    assert EN["ask_consent_analytics"] in reply, r.show()
    r.say("no")
    db = Stored(stack, r.sender)
    assert db.answers()[1:] == [("followup", True, ES["ask_consent_followup"], "es"),
                                ("analytics", False, EN["ask_consent_analytics"], "en")]
