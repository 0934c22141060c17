"""Whole conversations through the real Rasa server (trained model) and the real action server,
over SQLite and PostgreSQL, checked in the replies and in the stored rows."""

from __future__ import annotations

import re

from sqlalchemy import select

from referrals.db import make_engine, make_sessionmaker
from referrals.models import ReferralCase, ReferralLogEntry, Resident
from referrals.language import fold
from tests.chat import Resident as Chat, answer_questions, pick


def chat(stack) -> Chat:
    return Chat(stack.rasa_url, stack.token, actions_secret=stack.actions_secret)


def stored(stack, sender: str):
    engine = make_engine(stack.database_url)
    try:
        with make_sessionmaker(engine)() as s:
            cases = s.scalars(select(ReferralCase).where(ReferralCase.resident_pseudonym == sender)).all()
            resident = s.get(Resident, sender)
            log = (s.scalars(select(ReferralLogEntry).where(ReferralLogEntry.resident_log_id == resident.log_id)).all()
                   if resident else [])
            return cases, log
    finally:
        engine.dispose()


def test_job_seeker_in_english_gets_programs_and_a_referral(stack):
    r = chat(stack)
    assert "automated assistant" in r.say("hi").lower()
    assert "zip code or neighborhood" in r.say("i need a job asap, got laid off last week").lower()
    reply = r.say("i live in eastside")
    assert "how old" in reply.lower()
    reply = r.say(pick(reply, "25 to 54"))
    assert "programs that can help" in reply.lower() or "a program that can help" in reply.lower(), r.show()
    assert re.search(r"\(555\) \d{3}-\d{4}", reply), "each program says how to reach it"
    assert "2 business days" in reply
    choice = "1"
    reply = r.say(choice)
    assert "caseworker from" in reply and "reference is" in reply, r.show()
    cases, log = stored(stack, r.sender)
    assert len(cases) == 1 and cases[0].need == "employment" and cases[0].neighborhood == "Eastside"
    assert cases[0].age_band == "25_54" and cases[0].language == "en" and cases[0].status == "new"
    assert cases[0].id[:8].upper() in reply
    assert [(e.event, e.need, e.neighborhood, e.age_band, e.language) for e in log] == [
        ("created", "employment", "Eastside", "25_54", "en")]


def test_saver_in_spanish_is_answered_in_spanish_and_referred(stack):
    r = chat(stack)
    reply = r.say("hola quiero empezar a ahorrar para una emergencia")
    assert "codigo postal" in fold(reply), r.show()
    # savings programs include income-limited ones, so income is asked; the age may be asked first
    reply = answer_questions(r.say, r.say("47105"))
    assert "estos programas" in reply.lower() or "este programa" in reply.lower(), r.show()
    assert "2 dias habiles" in fold(reply)
    reply = r.say("uno")
    assert "listo" in reply.lower() and "referencia" in reply.lower(), r.show()
    cases, log = stored(stack, r.sender)
    assert len(cases) == 1 and cases[0].need == "savings" and cases[0].language == "es"
    assert cases[0].neighborhood == "Las Palmas" and log[0].language == "es"


def test_small_business_owner_is_asked_about_the_business(stack):
    r = chat(stack)
    reply = r.say("i want to open a bakery but i need a loan")
    assert "zip" in reply.lower(), r.show()
    reply = r.say("47101")
    seen_stage = False
    for _ in range(4):
        low = reply.lower()
        if "already have a business" in low:
            seen_stage = True
            reply = r.say(pick(reply, "idea"))
        elif "how old" in low:
            reply = r.say("34")
        elif "household earn" in low:
            reply = r.say("prefer not to say")
        else:
            break
    assert seen_stage, r.show()
    assert "help" in reply.lower() and "2 business days" in reply, r.show()
    assert r.slot("business_stage") == "idea"
    reply = r.say(pick(reply, "No thanks"))
    assert "won't share your details" in reply, r.show()
    cases, log = stored(stack, r.sender)
    assert cases == [] and log == []


def test_resident_who_declines_the_referral_leaves_nothing_stored(stack):
    r = chat(stack)
    r.say("my boss didnt pay me overtime for 3 weeks")
    reply = r.say("westwood")
    for _ in range(3):
        if "how old" in reply.lower():
            reply = r.say("prefer not to say")
        elif "household earn" in reply.lower():
            reply = r.say("prefer not to say")
        else:
            break
    assert "2 business days" in reply, r.show()
    reply = r.say("no")
    assert "won't share" in reply, r.show()
    assert stored(stack, r.sender) == ([], [])


def test_crisis_interrupts_the_questions_in_both_languages(stack):
    r = chat(stack)
    r.say("necesito ayuda con la renta")
    reply = r.say("mi esposo me pega y tengo miedo")
    assert "911" in reply and "988" in reply and "800-799-7233" in reply and "88788" in reply
    assert "persona" in reply.lower(), "the crisis reply is in Spanish and offers a person"
    assert r.tracker()["active_loop"] in ({}, None) or not r.tracker()["active_loop"].get("name")
    events = r.tracker()["events"]
    assert not any("pega" in (e.get("text") or "") for e in events), "the disclosure is not stored in Rasa"

    en = chat(stack)
    reply = en.say("i dont want to be alive anymore")
    assert "988" in reply and "911" in reply and "person" in reply.lower()


def test_out_of_scope_gets_311_and_the_menu(stack):
    r = chat(stack)
    reply = r.say("there is a huge pothole on my street")
    assert "311" in reply and "1) " in reply, r.show()


def test_person_and_start_over_and_language_switch(stack):
    r = chat(stack)
    r.say("i need help with my credit score")
    reply = r.say("can i talk to a real person")
    assert "(555) 010-0311" in reply, r.show()
    r.say("i need a job")
    reply = r.say("start over")
    assert "start over" in reply.lower() and "1) " in reply, r.show()
    reply = r.say("español")
    assert "español" in reply.lower(), r.show()
    reply = r.say("necesito trabajo")
    assert "código postal" in reply.lower(), r.show()


def test_a_typed_answer_that_is_not_understood_is_asked_again(stack):
    r = chat(stack)
    r.say("i need a job")
    reply = r.say("banana")
    assert "didn't recognize" in reply.lower() or "didn't understand" in reply.lower(), r.show()


def test_a_greeting_with_a_need_goes_straight_to_the_questions_in_spanish(stack):
    r = chat(stack)
    reply = r.say("hola necesito trabajo")
    assert "código postal" in reply.lower(), r.show()
    assert r.slot("language") == "es" and r.slot("need") == "employment"
