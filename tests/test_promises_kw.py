"""The promises behind the crisis offer, STATUS and the trust answer, without servers: staffed hours,
preferred call times, the callback table, and the texts each reply is built from (issue 10)."""

from __future__ import annotations

from datetime import date, datetime, timezone

import pytest
from sqlalchemy import select

from actions.callbacks import callback_reply, hours_label
from actions.trust import privacy_answer
from bot.keywords import ReferralStatus, keyword_text, match_keyword, status_text
from bot.sms import cost, shape
from referrals.callbacks import (StaffedHours, call_window, open_requests, parse_preferred_time, request_callback,
                                 set_preferred_time)
from referrals.models import CallbackRequest
from referrals.db import make_sessionmaker
from referrals.privacy import delete_resident, open_work, purge_expired

HOURS = StaffedHours.parse("Mon-Fri 09:00-17:00", "America/Indiana/Indianapolis")


def local(y, m, d, hh, mm=0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=HOURS.zone)


# --- staffed hours: what the reply may promise ---------------------------------------------------

@pytest.mark.parametrize("now, staffed, starts, day", [
    (local(2026, 12, 2, 10), True, local(2026, 12, 2, 10), "today"),  # Wednesday morning
    (local(2026, 12, 2, 16, 30), False, local(2026, 12, 3, 9), "tomorrow"),  # too close to closing
    (local(2026, 12, 2, 7), False, local(2026, 12, 2, 9), "today"),  # before opening
    (local(2026, 12, 2, 23), False, local(2026, 12, 3, 9), "tomorrow"),
    (local(2026, 12, 4, 18), False, local(2026, 12, 7, 9), "0"),  # Friday evening: Monday
    (local(2026, 12, 5, 12), False, local(2026, 12, 7, 9), "0"),  # Saturday noon: Monday
])
def test_the_call_window_follows_staffed_hours(now, staffed, starts, day):
    window = call_window(HOURS, now.astimezone(timezone.utc))
    assert (window.staffed_now, window.starts, window.day) == (staffed, starts, day)
    assert window.call_by.date() == window.starts.date() and window.call_by.hour == 17


@pytest.mark.parametrize("spec", ["", "always", "Mon-Fri 17:00-09:00", "Funday 09:00-17:00", "Mon-Fri 9-5"])
def test_bad_staffed_hours_are_refused(spec):
    with pytest.raises(ValueError):
        StaffedHours.parse(spec, "America/Indiana/Indianapolis")


def test_hours_read_as_people_write_them():
    assert hours_label(HOURS, "en") == "Mon-Fri 9 AM-5 PM"
    assert hours_label(HOURS, "es") == "de lunes a viernes, de 9 a. m. a 5 p. m."
    weekend = StaffedHours.parse("Sat,Sun 10:00-14:30", "UTC")
    assert hours_label(weekend, "en") == "Sat-Sun 10 AM-2:30 PM"
    assert hours_label(StaffedHours.parse("Mon,Wed 09:00-12:00", "UTC"), "es") == "lunes, miércoles, de 9 a. m. a 12 p. m."


# --- the reply after "yes": true about when, per channel and language ---------------------------

def test_within_hours_the_reply_promises_today_and_asks_for_a_better_time_on_sms():
    window = call_window(HOURS, local(2026, 12, 2, 10))
    text = callback_reply("en", "sms", window, HOURS, None)
    assert "call you at this number today by 5 PM" in text
    assert "reply with it" in text.lower() and "911" in text
    assert cost(shape([text])) <= 2


def test_outside_hours_the_reply_says_so_and_repeats_988_and_911():
    window = call_window(HOURS, local(2026, 12, 4, 18))
    for lang, words in (("en", ["Mon-Fri 9 AM-5 PM", "nobody can call right now", "Monday after 9 AM", "988", "911"]),
                        ("es", ["de lunes a viernes", "nadie puede llamarle", "el lunes después de las 9 a. m.",
                                "988", "911"])):
        text = callback_reply(lang, "sms", window, HOURS, None)
        assert all(w in text for w in words), text
        assert cost(shape([text], lang)) <= 2, shape([text], lang)


def test_on_the_web_the_reply_asks_for_a_number_and_never_says_text_us():
    window = call_window(HOURS, local(2026, 12, 2, 10))
    text = callback_reply("en", "web", window, HOURS, "tomorrow morning")
    assert "this number" not in text and "Type the phone number" in text
    assert "tomorrow morning" in text and "reply" not in text.lower()


# --- a preferred time: understood, and stored only as a label --------------------------------------

@pytest.mark.parametrize("text, en, es", [
    ("yes, tomorrow morning", "tomorrow morning", "mañana en la mañana"),
    ("after 3", "after 3 PM", "después de las 3 p. m."),
    ("after 5pm", "after 5 PM", "después de las 5 p. m."),
    ("call me at 4:30pm", "at 4:30 PM", "a las 4:30 p. m."),
    ("sí, mañana en la tarde", "tomorrow afternoon", "mañana en la tarde"),
    ("mañana por la mañana", "tomorrow morning", "mañana en la mañana"),
    ("el lunes despues de las 10", "Monday after 10 AM", "lunes después de las 10 a. m."),
    ("tonight", "evening", "en la noche"),
    ("hoy antes de las 2", "today before 2 PM", "hoy antes de las 2 p. m."),
])
def test_preferred_times_in_both_languages(text, en, es):
    preferred = parse_preferred_time(text)
    assert preferred is not None and (preferred.label("en"), preferred.label("es")) == (en, es)


@pytest.mark.parametrize("text", ["1", "2", "yes", "si", "47104", "i need a job", "my son is 3", "call me",
                                  "", "x" * 500])
def test_what_is_not_a_time_is_not_taken_for_one(text):
    assert parse_preferred_time(text) is None


def test_callback_rows_hold_no_words_and_go_with_the_resident(engine):
    sessions = make_sessionmaker(engine)
    window = call_window(HOURS, local(2026, 12, 2, 10))
    with sessions.begin() as s:
        first = request_callback(s, "p1", reason="crisis", channel="sms", language="es", call_by=window.call_by,
                                 preferred=parse_preferred_time("sí, mañana en la tarde, mi hija sale a las 2"))
        again = request_callback(s, "p1", reason="crisis", channel="sms", language="es", call_by=window.call_by)
        assert again.id == first.id, "a second yes updates the open request"
        assert set_preferred_time(s, "p1", parse_preferred_time("after 3"))
        assert not set_preferred_time(s, "nobody", parse_preferred_time("after 3"))
        request_callback(s, "p2", reason="crisis", channel="web", language="en", call_by=window.call_by)
    with sessions() as s:
        rows = s.scalars(select(CallbackRequest).order_by(CallbackRequest.id)).all()
        assert [(r.pseudonym, r.channel, r.language, r.preferred_time, r.status) for r in rows] == [
            ("p1", "sms", "es", "after 3 PM", "open"), ("p2", "web", "en", None, "open")]
        assert [r.pseudonym for r in open_requests(s)] == ["p1", "p2"]
        assert open_work(s, "p1") == ([], True)
    with sessions.begin() as s:
        assert delete_resident(s, "p1")["callback_requests"] == 1
        assert purge_expired(s, days=0, now=datetime(2100, 1, 1, tzinfo=timezone.utc))["callback_requests"] == 1
    with sessions() as s:
        assert s.scalars(select(CallbackRequest)).all() == []


def test_unknown_reason_is_refused(engine):
    with make_sessionmaker(engine).begin() as s, pytest.raises(ValueError):
        request_callback(s, "p", reason="chat", channel="sms", language="en",
                         call_by=datetime(2026, 1, 1, tzinfo=timezone.utc))


# --- trust answer, STATUS and keyword texts ------------------------------------------------------

@pytest.mark.parametrize("lang", ["en", "es"])
def test_the_privacy_answer_says_what_who_how_long_and_the_keywords(lang):
    sms, web = privacy_answer(lang, "sms", 180), privacy_answer(lang, "web", 180)
    words = ["MY DATA", "DELETE", "STATUS", "180"] if lang == "en" else ["MIS DATOS", "BORRAR", "ESTADO", "180"]
    assert all(w in sms and w in web for w in words)
    assert cost(shape([sms], lang)) <= 2
    assert ("Text" in sms and "Text" not in web) if lang == "en" else "número" in sms


def test_status_says_in_plain_words_where_each_referral_stands():
    refs = [ReferralStatus("City Careers", "EA40409D", "new", date(2026, 12, 2), "(555) 010-2015"),
            ReferralStatus("Riverbend Works", "11AA22BB", "unreachable", date(2026, 11, 20), None)]
    text = status_text("en", "City of Riverbend", refs)
    assert text.startswith("City Careers (ref EA40409D): sent. A caseworker will contact you by Fri, Dec 4. "
                           "Questions: (555) 010-2015.")
    assert "could not reach you" in text and "(555) 010-0311" in text
    assert "(new)" not in text and "unreachable" not in text
    es = status_text("es", "City of Riverbend", refs)
    assert "a más tardar el viernes 4 de diciembre" in es and "(new)" not in es
    assert cost(shape([es], "es")) <= 2
    many = status_text("en", "City of Riverbend", refs * 4)
    assert "And 6 more" in many and cost(shape([many])) <= 2
    assert "no referrals" in status_text("en", "City of Riverbend", [])


def test_opt_out_says_what_stops_and_how_to_undo_it():
    for lang in ("en", "es"):
        text = keyword_text("stop", lang, "City of Riverbend")
        assert "START" in text
        assert ("caseworker" in text and "referrals stay open" in text) if lang == "en" else \
            ("trabajador" in text and "siguen abiertos" in text)


def test_help_mentions_my_data_status_delete_and_the_web_has_no_carrier_text():
    assert all(w in keyword_text("help", "en", "X") for w in ("MY DATA", "STATUS", "DELETE"))
    assert all(w in keyword_text("help", "es", "X") for w in ("MIS DATOS", "ESTADO", "BORRAR"))
    for kind in ("help", "delete", "delete_confirm", "mydata"):
        web = keyword_text(kind, "en", "X", channel="web", items="1 open referral(s): A",
                           contact="", referrals="", consents="")
        assert "Msg & data" not in web and "Text us" not in web and "Reply" not in web, web


def test_no_mas_asks_and_the_carrier_words_still_opt_out():
    assert match_keyword("no más").kind == "stop_ask"
    assert "BAJA" in keyword_text("stop_ask", "es", "X")
    for word in ("STOP", "cancel", "END", "quit", "unsubscribe", "stopall", "revoke", "optout"):
        assert match_keyword(word).kind == "stop", word
