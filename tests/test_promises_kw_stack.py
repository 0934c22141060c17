"""Issue 10 through the real parts: signed SMS webhooks and web chat to the real gateway process, the real
Rasa server (trained model), the real action server and a real database. Each promise the assistant makes
is checked in what the resident reads and in what the city stored.

The situations the issue saw on main are here word for word: "yes" / "si" after "i want to end my life" /
"quiero morirme" showed the job menu and recorded nothing; START after the crisis reply said "You are
subscribed again"; "what do you do with my information" was not understood; "no mas", "cancel" and "end"
opted out without saying what that means; DELETE erased an open referral at once; STATUS said "(new)";
the web said "Msg & data rates may apply"; a referral cost 19 SMS segments in English and 23 in Spanish.
`pytest tests/test_promises_kw_stack.py -s` prints the transcripts and the segment counts.

Most tests run on the SQLite stack only (to keep CI short); the callback request, the one new table the
conversation writes, is checked on SQLite and PostgreSQL.
"""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from bot.sms import plain_gsm as gsm, segments
from referrals.callbacks import StaffedHours, call_window
from referrals.db import make_engine, make_sessionmaker
from referrals.models import CallbackRequest, ContactEntry, OptOut, ReferralCase
from referrals.config import Settings
from referrals.vault import Vault, pseudonym
from tests.chat import Texter, answer_questions, bodies, pick
from tests.conftest import TWILIO_TEST_TOKEN
from tests.test_gateway_web import Visitor, post, text

SQLITE = pytest.mark.parametrize("stack", ["sqlite"], indirect=True)
BOTH = pytest.mark.parametrize("stack", ["sqlite", "postgresql"], indirect=True)


class CountingTexter(Texter):
    """A phone that also counts the SMS segments the city paid for."""

    segments_received: int = 0

    def say(self, text: str, **extra: str) -> str:
        status, twiml = self.post(self.form(text, **extra))
        assert status == 200, (status, twiml)
        received = bodies(twiml)
        self.segments_received += sum(segments(b).segments for b in received)
        for body in received:
            assert segments(body).encoding == "GSM-7", body
        reply = "\n\n".join(received)
        self.transcript.append((text, reply))
        return reply

    def show(self) -> str:
        return "\n".join(f"sms> {a}\nbot> {b}" for a, b in self.transcript)


def phone(gateway) -> CountingTexter:
    return CountingTexter(gateway.url, TWILIO_TEST_TOKEN)


def rows(gateway, model, *where):
    engine = make_engine(gateway.stack.database_url)
    try:
        with make_sessionmaker(engine)() as s:
            return s.scalars(select(model).where(*where)).all()
    finally:
        engine.dispose()


def staffed_now() -> bool:
    return call_window(StaffedHours.from_settings(Settings.from_env())).staffed_now


def assert_truthful_callback_reply(reply: str, lang: str) -> None:
    """The reply says when the call comes, as staffed hours allow; outside them, 988 and 911 again."""
    if staffed_now():
        assert ("today by" in reply) if lang == "en" else ("hoy antes de las" in reply), reply
    else:
        assert ("nobody can call right now" in reply) if lang == "en" else ("nadie puede llamarle" in reply), reply
        assert "988" in reply, reply
    assert "911" in reply, reply


# --- 1. crisis follow-through -----------------------------------------------------------------

@BOTH
def test_yes_after_the_crisis_reply_records_a_callback_and_start_points_to_the_hotline(gateway):
    t = phone(gateway)
    crisis = t.say("i want to end my life")
    assert all(s in crisis for s in ("911", "988", "800-799-7233", "88788")), crisis
    assert "START" not in crisis, "the hotline's keyword is our opt-in keyword: not given here"
    assert "Would you like a person from the city to call you?" in crisis

    reply = t.say("yes")
    assert "A job" not in reply and "Training" not in reply, "on main this showed the job menu\n" + t.show()
    assert "at this number" in reply
    assert_truthful_callback_reply(reply, "en")

    who = pseudonym(gateway.env["PSEUDONYM_KEY"], "sms", t.phone)
    [request] = rows(gateway, CallbackRequest, CallbackRequest.pseudonym == who)
    assert (request.reason, request.channel, request.language, request.status, request.preferred_time) == (
        "crisis", "sms", "en", "open", None)
    [entry] = rows(gateway, ContactEntry, ContactEntry.pseudonym == who)
    assert Vault(gateway.env["VAULT_KEY"]).open(entry.ciphertext) == t.phone, "staff can call this number"

    noted = t.say("after 3pm")
    assert "after 3 PM" in noted
    [request] = rows(gateway, CallbackRequest, CallbackRequest.pseudonym == who)
    assert request.preferred_time == "after 3 PM"

    start = t.say("START")
    assert "subscribed again" not in start.lower() and "800-799-7233" in start and "88788" in start, start
    assert "end my life" not in gateway.log_text() and t.phone not in gateway.log_text()
    print("\n" + t.show())


@SQLITE
def test_si_after_quiero_morirme_records_a_callback_in_spanish(gateway):
    t = phone(gateway)
    crisis = t.say("quiero morirme")
    assert "¿Quiere que una persona de la ciudad le llame?" in crisis, crisis
    reply = t.say("si")
    assert "1) Trabajo" not in reply and gsm("a este número") in reply, t.show()
    assert_truthful_callback_reply(reply, "es")
    who = pseudonym(gateway.env["PSEUDONYM_KEY"], "sms", t.phone)
    [request] = rows(gateway, CallbackRequest, CallbackRequest.pseudonym == who)
    assert (request.channel, request.language) == ("sms", "es")


@SQLITE
def test_an_opted_out_number_in_crisis_can_still_accept_a_person(gateway):
    t = phone(gateway)
    t.say("hi")
    t.say("STOP")
    crisis = t.say("i want to end my life")
    assert "988" in crisis and "Would you like a person" in crisis, "a crisis always gets an answer"
    reply = t.say("yes")
    assert "subscribed again" not in reply and "at this number" in reply, t.show()
    who = pseudonym(gateway.env["PSEUDONYM_KEY"], "sms", t.phone)
    assert rows(gateway, CallbackRequest, CallbackRequest.pseudonym == who)
    assert rows(gateway, OptOut, OptOut.pseudonym == who)[0].opted_out, "still opted out of texts"
    status, twiml = t.post(t.form("i need a job"))
    assert status == 200 and bodies(twiml) == [], "and nothing else is answered"


@SQLITE
@pytest.mark.parametrize("crisis, accept, lang, label", [
    ("me quiero matar", "sí, mañana en la tarde", "es", "tomorrow afternoon"),
    ("i want to kill myself", "yes, tomorrow morning", "en", "tomorrow morning"),
    ("i want to kill myself", "1", "en", None),
])
def test_accepting_by_number_or_with_a_time_in_words(gateway, crisis, accept, lang, label):
    t = phone(gateway)
    t.say(crisis)
    reply = t.say(accept)
    assert_truthful_callback_reply(reply, lang)
    who = pseudonym(gateway.env["PSEUDONYM_KEY"], "sms", t.phone)
    [request] = rows(gateway, CallbackRequest, CallbackRequest.pseudonym == who)
    assert request.preferred_time == label, "a label from a closed vocabulary, never the words"


@SQLITE
def test_no_thanks_and_a_late_yes_record_nothing(gateway):
    t = phone(gateway)
    t.say("quiero morirme")
    declined = t.say("no gracias")
    assert "988" in declined and "llamar" in declined.lower(), declined
    t2 = phone(gateway)
    t2.say("i want to end my life")
    t2.say("thanks")
    t2.say("yes")  # the offer was two messages ago: this "yes" answers nothing
    for who in (t.phone, t2.phone):
        assert rows(gateway, CallbackRequest,
                    CallbackRequest.pseudonym == pseudonym(gateway.env["PSEUDONYM_KEY"], "sms", who)) == []


@SQLITE
@pytest.mark.parametrize("message, accept, lang", [("i want to end my life", "yes please", "en"),
                                                   ("quiero morirme", "sí", "es")])
def test_web_callback_asks_for_a_number_and_keeps_it_sealed(gateway, message, accept, lang):
    v = Visitor(gateway)
    crisis = v.say(message)
    assert any(b["payload"] == "/human" for m in crisis["messages"] for b in m["buttons"]), crisis
    body = v.say(accept)
    reply = text(body)
    assert body["ask_contact"] is True, body
    assert ("Type the phone number" in reply) if lang == "en" else ("Escriba abajo el número" in reply), reply
    assert "this number" not in reply and "Reply" not in reply
    status, saved, _ = post(gateway, "/chat/contact", {"session": v.session, "contact": "(555) 010-4477"})
    assert status == 200 and saved["ok"], saved
    who = pseudonym(gateway.env["PSEUDONYM_KEY"], "web", v.session)
    [request] = rows(gateway, CallbackRequest, CallbackRequest.pseudonym == who)
    assert (request.channel, request.language) == ("web", lang)
    [entry] = rows(gateway, ContactEntry, ContactEntry.pseudonym == who)
    assert Vault(gateway.env["VAULT_KEY"]).open(entry.ciphertext) == "+15550104477"


# --- 5. trust questions -------------------------------------------------------------------------

@SQLITE
def test_trust_questions_are_answered_in_both_languages_and_channels(gateway):
    t = phone(gateway)
    reply = t.say("what do you do with my information")
    assert "didn't understand" not in reply
    assert all(w in reply for w in ("MY DATA", "DELETE", "STATUS", "180 days", "encrypted")), reply
    reply = t.say("who can see what i write?")
    assert "311" not in reply and "Only staff" in reply, reply
    v = Visitor(gateway)
    body = v.say("¿quién puede ver lo que escribo?")
    assert all(w in text(body) for w in ("MIS DATOS", "BORRAR", "ESTADO", "Escriba")), body
    assert "Responda" not in text(body)
    help_sms = t.say("HELP")
    assert all(w in help_sms for w in ("MY DATA", "STATUS", "DELETE", "STOP")), help_sms


@SQLITE
def test_a_trust_question_in_the_middle_of_the_questions_then_the_question_again(gateway):
    t = phone(gateway)
    t.say("i need a job")
    reply = t.say("who can see what i write?")
    assert "MY DATA" in reply and "ZIP code or neighborhood" in reply, t.show()
    reply = t.say("47104")
    assert "How old are you?" in reply, t.show()


# --- 6. keywords without traps ------------------------------------------------------------------

def referral_by_sms(t: CountingTexter, lang: str = "en") -> str:
    if lang == "es":
        reply = answer_questions(t.say, (t.say("necesito trabajo"), t.say("47102"))[1])
    else:
        reply = answer_questions(t.say, (t.say("i need a job"), t.say("47104"))[1])
    return t.say("1")


@SQLITE
def test_cancel_mid_conversation_says_what_stops_and_how_to_undo_it(gateway):
    t = phone(gateway)
    referral_by_sms(t)
    reply = t.say("cancel")
    assert "caseworker" in reply and "referrals stay open" in reply and "START" in reply, reply
    who = pseudonym(gateway.env["PSEUDONYM_KEY"], "sms", t.phone)
    assert rows(gateway, OptOut, OptOut.pseudonym == who)[0].opted_out
    assert rows(gateway, ReferralCase, ReferralCase.resident_pseudonym == who), "the referral stays"
    assert "again" in t.say("START")
    t2 = phone(gateway)
    t2.say("i need a job")
    assert "START" in t2.say("END"), "END is a carrier opt-out word: Twilio blocks the number on it"


@SQLITE
def test_no_mas_asks_instead_of_opting_out(gateway):
    t = phone(gateway)
    referral_by_sms(t, "es")
    reply = t.say("no mas")
    assert "BAJA" in reply and "¿Quiere dejar de recibir" in reply and "no hace falta" in reply, reply
    who = pseudonym(gateway.env["PSEUDONYM_KEY"], "sms", t.phone)
    assert not rows(gateway, OptOut, OptOut.pseudonym == who)
    assert t.say("hola"), "the conversation goes on"


@SQLITE
def test_delete_with_an_open_referral_asks_first_and_status_speaks_plainly(gateway):
    t = phone(gateway)
    referral_by_sms(t)
    who = pseudonym(gateway.env["PSEUDONYM_KEY"], "sms", t.phone)
    status = t.say("STATUS")
    assert "(new)" not in status and "A caseworker will contact you by" in status, status
    assert re.search(r"\(555\) 010-\d{4}", status), "whom to call"
    ask = t.say("DELETE")
    assert "1 open referral" in ask and "DELETE again" in ask, ask
    t.say("hello")  # anything else keeps the data
    assert rows(gateway, ReferralCase, ReferralCase.resident_pseudonym == who)
    t.say("DELETE")
    gone = t.say("DELETE")
    assert "We deleted" in gone, gone
    assert rows(gateway, ReferralCase, ReferralCase.resident_pseudonym == who) == []


@SQLITE
def test_web_keywords_use_web_words(gateway):
    v = Visitor(gateway)
    for word in ("HELP", "AYUDA", "MY DATA", "STATUS"):
        body = v.say(word)
        reply = text(body)
        assert "Msg & data" not in reply and "tarifas" not in reply and "Text us" not in reply, reply
        assert not re.search(r"\bReply\b|\bResponda\b", reply), reply
    body = v.say("DELETE")
    assert body["forgotten"] is True and "Write anytime" in text(body), body


# --- 4 (parts owned here) and 7: numbered choices, and what a referral costs ----------------------

@SQLITE
def test_option_words_the_last_one_and_a_zip_with_a_letter_o(gateway):
    t = phone(gateway)
    t.say("i need a job")
    reply = t.say("471O4")
    assert "How old are you?" in reply, t.show()
    listing = answer_questions(t.say, t.say("option 3"))
    assert "Reply 1, 2 or 3, or 4) No thanks" in listing, t.show()
    third = re.search(r"^3\. ([^.:]+)", listing, re.M).group(1)
    done = t.say("the last one")
    assert "reference" in done.lower() and third in done, t.show()


@SQLITE
def test_a_misunderstanding_does_not_resend_the_whole_menu(gateway):
    t = phone(gateway)
    menu = t.say("hi")
    assert "9) Talk to a person" in menu
    again = t.say("zxqv blorp")
    assert "9) Talk to a person" not in again and "1 to 9" in again, again


def full_referral(t: CountingTexter, lang: str) -> None:
    """Need, ZIP, age, income if asked, a program, both consents, the two optional questions."""
    es = lang == "es"
    reply = t.say("necesito trabajo, me despidieron" if es else "i need a job, got laid off")
    reply = answer_questions(t.say, t.say("47102" if es else "47104"))
    assert ("2 dias habiles" in reply or "2 días hábiles" in reply) if es else "2 business days" in reply, t.show()
    reply = t.say("1")
    assert "referencia" in reply.lower() if es else "reference" in reply.lower(), t.show()
    reply = t.say(pick(reply, "Si" if es else "Yes"))
    reply = t.say(pick(reply, "Si" if es else "Yes"))
    reply = t.say(pick(reply, "Hispano" if es else "Hispanic"))
    reply = t.say(pick(reply, "Prefiero" if es else "Prefer"))
    assert any(w in reply.lower() for w in ("algo mas", "algo más", "algo màs")) if es else "anything else" in reply.lower()


@SQLITE
# Issue 10: at most 12 segments in English and 14 in Spanish (19 and 23 before).
@pytest.mark.parametrize("lang, budget", [("en", 12), ("es", 14)])
def test_a_full_referral_by_sms_costs_little(gateway, lang, budget):
    t = phone(gateway)
    full_referral(t, lang)
    print(f"\n--- {lang}: {t.segments_received} segments for a full referral ---\n{t.show()}")
    assert t.segments_received <= budget, t.show()
    greeted = phone(gateway)
    greeted.say("hola" if lang == "es" else "hi")
    full_referral(greeted, lang)
    print(f"--- {lang}, starting with a greeting: {greeted.segments_received} segments ---")
    assert greeted.segments_received <= budget + 2
