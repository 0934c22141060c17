"""Issue 10, parts 2 to 4 and the web half of 6, through the real gateway, Rasa, action server and database
(SQLite and PostgreSQL), on the web and over signed SMS, in English and Spanish: the situations the issue
saw on main, replayed the way a resident would write them."""

from __future__ import annotations

import json
import re

import pytest

from sqlalchemy import select

from referrals.db import make_engine, make_sessionmaker
from referrals.models import ContactEntry, ReferralCase
from referrals.language import fold
from referrals.vault import Vault, pseudonym
from tests.chat import Resident, Texter, answer_questions, pick
from tests.conftest import TWILIO_TEST_TOKEN
from tests.test_gateway_web import Visitor, post, text
from tests.test_log_privacy import TROUBLE_EN, database_down

WEEKDAY = r"(Monday|Tuesday|Wednesday|Thursday|Friday)"
DIA = r"(lunes|martes|miércoles|jueves|viernes)"


def held(gateway, who: str) -> tuple[list[ReferralCase], ContactEntry | None]:
    engine = make_engine(gateway.stack.database_url)
    try:
        with make_sessionmaker(engine)() as s:
            cases = s.scalars(select(ReferralCase).where(ReferralCase.resident_pseudonym == who)).all()
            return cases, s.get(ContactEntry, who)
    finally:
        engine.dispose()


def web_who(gateway, v: Visitor) -> str:
    return pseudonym(gateway.env["PSEUDONYM_KEY"], "web", v.session)


def rasa_memory(gateway, who: str) -> str:
    return json.dumps(Resident(gateway.stack.rasa_url, gateway.stack.token, sender=who).tracker())


def v_say(v: Visitor, message: str) -> dict:
    v.last = v.say(message)
    return v.last


def web_answer_questions(v: Visitor, body: dict) -> dict:
    """Type answers to the age and income questions a need may ask (30; $20,000), until something else."""
    for _ in range(3):
        low = fold(text(body))
        if "how old" in low or "os tiene" in low:
            body = v_say(v, "30")
        elif "household earn" in low or "gana su hogar" in low:
            body = v_say(v, "20000")
        else:
            break
    return body


# --- 2. no referral without a way to reach the resident (web) ----------------------------------------


def test_web_asks_for_a_contact_before_confirming_and_queues_nothing_without_one(gateway):
    v = Visitor(gateway)
    body = v_say(v, "my landlord is evicting me")
    assert "Got it: help with an eviction." in text(body), body  # 4: says what it understood
    body = v_say(v, "Eastside")
    body = web_answer_questions(v, body)
    programs = text(body)
    # 4: ranked by what was said (not "Child Care Subsidy" first), each with a one-line description
    first = re.search(r"1\. ([^:]+): (.+?)\.", programs)
    assert first and "evict" in (first.group(1) + first.group(2)).lower() or "rent" in first.group(2).lower(), programs
    assert "Child Care Subsidy" not in programs.split("2. ")[0]

    body = v.choose(body, first.group(1))
    asked = text(body)
    assert body["ask_contact"] is True and "reach you" in asked and "phone number or email" in asked, body
    assert "Done" not in asked and "reference" not in asked, "nothing is confirmed before a contact"
    assert held(gateway, web_who(gateway, v)) == ([], None)

    body = v.choose(body, "rather not")
    said = text(body)
    assert "nothing was sent" in said and re.search(r"\(555\) \d{3}-\d{4}", said), "how to reach the program directly"
    assert body["ask_contact"] is False
    assert held(gateway, web_who(gateway, v)) == ([], None), "no contactless case in the queue"


def test_web_contact_typed_in_the_chat_goes_to_the_vault_and_the_confirmation_names_who_and_when(gateway):
    v = Visitor(gateway)
    body = v_say(v, "necesito ayuda con la renta")
    assert "Entendido: ayuda con la renta." in text(body), body
    body = v_say(v, "Las Palmas")
    body = web_answer_questions(v, body)
    assert "¿Quiere que un trabajador" in text(body) and "días hábiles" in text(body), body  # full accents on the web
    body = v_say(v, "1")
    assert body["ask_contact"] is True and "¿Cómo se puede comunicar con usted" in text(body), body

    body = v_say(v, "mi cel es (555) 010-4242")
    said = text(body)
    who = web_who(gateway, v)
    cases, contact = held(gateway, who)
    assert len(cases) == 1 and contact is not None and contact.kind == "phone"
    assert Vault(gateway.env["VAULT_KEY"]).open(contact.ciphertext) == "+15550104242"
    assert re.search(rf"Listo\. Un trabajador (del|de la) .+ le llamará o le escribirá al número que nos dio sobre "
                     rf"Ayuda de Emergencia para la Renta a más tardar el {DIA} \d+ de \w+\. Su número de referencia es "
                     rf"{cases[0].id[:8].upper()}", said), said
    assert "4242" not in rasa_memory(gateway, who), "the contact never reaches Rasa"
    assert "4242" not in gateway.log_text()

    # 6 (web): with a phone on file the follow-up text may be offered; race/ethnicity is a real multi-select.
    assert "¿Le podemos escribir una vez" in said, said
    body = v_say(v, "sí")
    body = v_say(v, "sí")
    race = next(m for m in body["messages"] if m["buttons"])
    assert race.get("multiple") is True and "Puede elegir varias." in race["text"] and "1 4" not in race["text"]
    body = v_say(v, "4 7")  # what the widget sends for two checked boxes
    assert "¿Cuál es su género?" in text(body), body


@pytest.mark.parametrize("stack", ["postgresql"], indirect=True)
def test_web_contact_typed_while_the_database_is_down_is_asked_again_never_a_500(stack, gateway):
    """Seen in CI: a phone number typed at the contact step answered 500 "Something went wrong". With the
    database unreachable the resident is told of the trouble (503), nothing is half-saved, and the same
    number typed once the database is back completes the referral."""
    v = Visitor(gateway)
    v_say(v, "i need help with rent")
    body = web_answer_questions(v, v_say(v, "Eastside"))
    body = v_say(v, "1")
    assert body["ask_contact"] is True, body
    who = web_who(gateway, v)

    database_down(stack.database_url, True)
    try:
        status, body, _ = post(gateway, "/chat", {"session": v.session, "message": "my cell is 555 010 4343"})
    finally:
        database_down(stack.database_url, False)
    assert status == 503 and TROUBLE_EN in text(body), (status, body)
    assert body["ask_contact"] is True, "the contact field stays open for the next try"
    assert held(gateway, who) == ([], None)
    assert "OperationalError" in gateway.log_text() and "4343" not in gateway.log_text()

    body = v_say(v, "my cell is 555 010 4343")
    cases, contact = held(gateway, who)
    assert len(cases) == 1 and contact is not None and "reference" in text(body).lower(), body


@pytest.mark.parametrize("stack", ["postgresql"], indirect=True)
def test_a_database_restart_between_turns_costs_the_resident_nothing(stack, gateway):
    """Seen in CI after the database-down test on the shared stack: the pooled connections PostgreSQL had
    closed failed the next turns. Connections are checked before use, so after a restart (every backend
    terminated) the conversation goes on with no trouble reply and no fault logged."""
    v = Visitor(gateway)
    v_say(v, "i need help with rent")
    body = web_answer_questions(v, v_say(v, "Eastside"))
    before = gateway.log_text()
    database_down(stack.database_url, True)
    database_down(stack.database_url, False)
    body = v_say(v, "1")
    assert body["ask_contact"] is True, body
    body = v_say(v, "my cell is 555 010 4444")
    assert "reference" in text(body).lower(), body
    after = gateway.log_text()[len(before):]
    assert not [line for line in after.splitlines() if "_error" in line or "_unavailable" in line or "_failed" in line], after


def test_web_resident_with_an_email_is_not_asked_may_we_text_you(gateway):
    v = Visitor(gateway)
    body = v_say(v, "i want to start saving money")
    body = v_say(v, "47101")
    body = web_answer_questions(v, body)
    body = v_say(v, "1")
    assert body["ask_contact"] is True
    status, saved, _ = post(gateway, "/chat/contact", {"session": v.session, "contact": "resident@example.org"})
    assert status == 200 and saved["ok"], saved
    said = text(saved)
    assert re.search(rf"A caseworker from .+ will email you about .+ by {WEEKDAY}, \w+ \d+\. Your reference is", said), said
    assert "May we text you" not in said and "reports on who the city is reaching" in said, said
    cases, contact = held(gateway, web_who(gateway, v))
    assert len(cases) == 1 and contact.kind == "email"


def test_web_contact_step_does_not_take_junk_or_a_forged_word_for_a_contact(gateway):
    v = Visitor(gateway)
    v_say(v, "i need a job")
    body = v_say(v, "47104")
    web_answer_questions(v, body)
    v_say(v, "1")
    body = v_say(v, "call me at the library")
    assert "phone number (10 digits) or an email" in text(body) and body["ask_contact"] is True, body
    body = v_say(v, "contact_given")  # the word the gateway sends after sealing, typed by hand
    assert "reference" not in text(body) and body["ask_contact"] is True, body
    assert held(gateway, web_who(gateway, v)) == ([], None)


# --- 3 and 4 over SMS ----------------------------------------------------------------------------------


def texter(gateway) -> Texter:
    return Texter(gateway.url, TWILIO_TEST_TOKEN)


def test_sms_spanish_several_needs_are_handled_one_after_another_in_correct_spanish(gateway):
    t = texter(gateway)
    reply = t.say("no me pagaron dos semanas, debo la renta y quiero volver a estudiar")
    # Spanish on SMS keeps GSM-7's letters (ñ, é, ¿, ¡) and folds only á, í, ó, ú.
    assert "Entendido: ayuda con salarios no pagados. Después: la renta, capacitacion o estudios." in reply, t.show()
    assert "¿Cual es su codigo postal (ZIP) o su barrio?" in reply, t.show()
    reply = answer_questions(t.say, t.say("Las Palmas"))
    assert "Clinica de Robo de Salario" in reply and "Hablan español" in reply, t.show()  # the directory's Spanish
    assert "Mon-Fri" not in reply, t.show()  # no English; the hours come with a "no, gracias" (below)
    reply = t.say("1")
    assert re.search(r"Listo\. Un trabajador (del|de la|de) .+ le escribir[aà] o le llamar[aà] sobre .+ a m[aà]s tardar el "
                     r"(lunes|martes|miércoles|miercoles|jueves|viernes) \d+ de \w+\.", reply), t.show()
    reply = t.say("no")
    reply = t.say("no")
    assert re.search(r"También mencion[oò] la renta: ¿quiere ayuda con eso también\?", reply) and re.search(r"1\) S[iì]\b", reply), t.show()
    reply = answer_questions(t.say, t.say("sí"))
    assert "Ayuda de Emergencia para la Renta" in reply, t.show()
    reply = t.say(pick(reply, "No, gracias"))
    # The SMS list leaves hours out; declining gives each program's phone and its hours, in Spanish.
    assert re.search(r"Ayuda de Emergencia para la Renta: \(555\) 010-2030, lun\. a vie\.", reply), t.show()
    assert "Mon-Fri" not in reply, t.show()
    for _, r in t.transcript:
        assert not re.search(r"\b(anos|Si,|Que necesita)\b", r), r


def test_sms_english_change_of_need_mid_questions_switches_need(gateway):
    t = texter(gateway)
    reply = t.say("i need a job")
    reply = t.say("471O4")  # a letter O for a zero
    assert "How old are you?" in reply, t.show()
    reply = t.say("actually i need help with rent, not a job")
    assert "Got it: help with rent." in reply and "How old are you?" not in reply, t.show()
    assert "household earn" in reply, t.show()


def test_sms_english_long_story_names_every_need_it_heard(gateway):
    t = texter(gateway)
    reply = t.say("my boss didnt pay me for 3 weeks and im behind on rent and i want to go back to school")
    assert "Got it: help with unpaid wages. After that: rent, training or school." in reply, t.show()


def test_unknown_neighborhood_gets_the_list_of_known_ones(gateway):
    t = texter(gateway)
    t.say("necesito trabajo")
    reply = t.say("vivo en el centro comercial")
    assert re.search("No reconoc[iì] ese codigo postal o barrio", reply) and "Las Palmas" in reply and "Westwood" in reply, t.show()
    en = texter(gateway)
    en.say("i need a job")
    reply = en.say("i live uptown")
    assert "one of: Cedar Hill, Downtown, Eastside" in reply, en.show()


def test_immigration_status_brought_up_is_answered_from_the_records(gateway):
    t = texter(gateway)
    t.say("no tengo papeles y mi patron no me paga las horas extra")
    reply = answer_questions(t.say, t.say("47105"))
    assert "Le atienden sin importar su estatus migratorio" in reply, t.show()
    en = texter(gateway)
    en.say("my boss owes me 2 weeks of pay")
    reply = answer_questions(en.say, en.say("47105"))
    assert "immigration" not in reply, "said only when status comes up"
    reply = en.say("is it ok if i dont have papers")
    assert "whatever their immigration status:" in reply, en.show()
