"""Issue 13, live handoff, through the real gateway, Rasa, action server, database (SQLite and PostgreSQL),
the portal over HTTP and Twilio's real REST client against tests/fake_twilio.py.

A resident asks for a person by SMS and on the web; a caseworker takes the conversation in the portal and
answers; the resident sees it (a text, or the web chat's long poll) and replies into the thread; STOP
stops the staff texts; outside staffed hours, or when nobody answers in time, a callback is offered with
211; two caseworkers racing for one conversation: exactly one wins. Staffed hours are set through
LIVE_TEAMS ('always' / 'never'), never by changing the clock.
"""

from __future__ import annotations

import asyncio
import re
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Iterator

import aiohttp
import pyotp
import pytest
from sqlalchemy import select

from referrals.callbacks import CallbackRequest
from referrals.config import Settings
from referrals.language import fold
from referrals.db import make_engine, make_sessionmaker
from referrals.models import ContactEntry, utcnow
from referrals.models import HandoffLogEntry, LiveConversation, LiveMessage
from referrals.portal import make_app
from referrals.models import StaffUser
from referrals.vault import pseudonym
from tests.chat import Texter, pick
from tests.conftest import TWILIO_TEST_TOKEN, start_gateway, stop_gateway
from tests.fake_twilio import FakeTwilio
from tests.test_gateway_web import Visitor, text
from tests.test_portal import Client, RunningApp, _password_hash

FROM = "+15550100311"


@dataclass
class Desk:
    """One team's live desk: a gateway in front of the stack, the portal on the same database, the fake
    Twilio both text through, and the team's caseworkers."""

    stack: object
    gateway: object
    portal_url: str
    sessions: object
    twilio: FakeTwilio
    team: str
    totp: dict[str, str]

    def staff(self, name: str) -> Client:
        client = Client(self.portal_url, self)
        assert client.login(name).status_code == 303, f"{name} could not sign in"
        return client

    def code(self, username: str) -> str:
        from sqlalchemy import update

        with self.sessions.begin() as s:
            s.execute(update(StaffUser).where(StaffUser.username == username).values(totp_last_step=None))
        return pyotp.TOTP(self.totp[username]).now()

    def conversation(self, who: str) -> LiveConversation | None:
        with self.sessions() as s:
            return s.scalar(select(LiveConversation).where(LiveConversation.pseudonym == who)
                            .order_by(LiveConversation.requested_at.desc()).limit(1))

    def texts_to(self, phone: str) -> list[str]:
        return [m["body"] for m in self.twilio.to(phone)]


def _gateway_env(twilio: FakeTwilio, team: str, hours: str, key: str, **extra: str) -> dict[str, str]:
    return {"LIVE_TEAMS": f"{team} | * | {hours}", "TWILIO_ACCOUNT_SID": twilio.account_sid,
            "TWILIO_FROM_NUMBER": FROM, "TWILIO_API_BASE": twilio.url, "PSEUDONYM_KEY": key, **extra}


@pytest.fixture(scope="module")
def desk(stack) -> Iterator[Desk]:
    """A team staffed 'always', two caseworkers and a supervisor of it, and a caseworker of another team."""
    twilio = FakeTwilio(auth_token=TWILIO_TEST_TOKEN).start()
    team = f"Live desk {uuid.uuid4().hex[:6]}"
    key = uuid.uuid4().hex * 2
    gw = start_gateway(stack, _gateway_env(twilio, team, "always", key), log_name="gateway-live")
    engine = make_engine(stack.database_url)
    sessions = make_sessionmaker(engine)
    totp = {name: pyotp.random_base32(32) for name in ("ana", "ben", "sup", "other")}
    with sessions.begin() as s:  # the stack's database is shared by both runs of a module: update or add
        for name, secret in totp.items():
            user = s.scalar(select(StaffUser).where(StaffUser.username == name)) or StaffUser(
                username=name, password_hash=_password_hash(), active=True, failed_logins=0)
            user.role = "supervisor" if name == "sup" else "caseworker"
            user.organization = team if name != "other" else "Another team"
            user.totp_secret, user.totp_enrolled_at = secret, utcnow()
            s.add(user)
    settings = Settings.from_env({"DATABASE_URL": stack.database_url, "VAULT_KEY": gw.env["VAULT_KEY"],
                                  "PSEUDONYM_KEY": key, "TWILIO_ACCOUNT_SID": twilio.account_sid,
                                  "TWILIO_AUTH_TOKEN": TWILIO_TEST_TOKEN, "TWILIO_FROM_NUMBER": FROM,
                                  "TWILIO_API_BASE": twilio.url, "QUIET_HOURS": "off"})
    portal = RunningApp(make_app(settings, engine))
    try:
        yield Desk(stack, gw, portal.url, sessions, twilio, team, totp)
    finally:
        portal.stop()
        stop_gateway(gw)
        twilio.stop()
        engine.dispose()


def sms_who(desk: Desk, gw, phone: str) -> str:
    return pseudonym(gw.env["PSEUDONYM_KEY"], "sms", phone)


def poll(gateway, session: str, after: int = 0, wait: float = 0) -> dict:
    async def go():
        async with aiohttp.ClientSession() as s:
            async with s.get(f"{gateway.url}/chat/live", params={"after": str(after), "wait": str(wait)},
                             headers={"X-Chat-Session": session}) as resp:
                assert resp.status == 200, await resp.text()
                return await resp.json()
    return asyncio.run(go())


def live_id(page_or_queue: str) -> list[str]:
    return re.findall(r'data-live="([0-9a-f-]{36})"', page_or_queue)


def user_turns(desk: Desk, who: str) -> int:
    from tests.test_gateway_sms import user_turns as count

    return count(desk.gateway, who)


def asks_for_a_person(desk: Desk) -> tuple[Texter, str, str]:
    """A texter who said hi and picked "talk to a person": (texter, pseudonym, conversation id)."""
    t = Texter(desk.gateway.url, TWILIO_TEST_TOKEN)
    who = sms_who(desk, desk.gateway, t.phone)
    t.say(pick(t.say("hi"), "talk to a person"))
    return t, who, desk.conversation(who).id


# --- teams, hours, routing (no stack) ----------------------------------------------------------

def test_teams_route_by_need_and_keep_their_own_hours():
    from datetime import datetime, timezone

    from referrals.live import parse_teams, route

    teams = parse_teams("Workforce | employment, job_training | Mon-Fri 09:00-17:00; FEC | * | Mon-Sat 10:00-14:00; "
                        "Night desk | wages | always", "America/Indiana/Indianapolis")
    assert [route(teams, n).name for n in ("employment", "savings", None, "wages")] == [
        "Workforce", "FEC", "FEC", "Night desk"]
    saturday_noon = datetime(2026, 12, 5, 17, 0, tzinfo=timezone.utc)  # 12:00 in Indianapolis
    assert not teams[0].open_now(saturday_noon) and teams[1].open_now(saturday_noon) and teams[2].open_now()
    with pytest.raises(ValueError):
        parse_teams("Workforce | employment", "America/Indiana/Indianapolis")
    assert parse_teams("off", "America/Indiana/Indianapolis") == []


def test_with_no_live_desk_a_person_is_the_office_number(gateway):
    """LIVE_TEAMS=off (the shared gateway of the other tests): the bot's own reply, as before."""
    t = Texter(gateway.url, TWILIO_TEST_TOKEN)
    assert "(555) 010-0311" in t.say(pick(t.say("hi"), "talk to a person"))


# --- SMS ---------------------------------------------------------------------------------------

def test_sms_resident_gets_a_person_who_answers_by_text_and_the_replies_thread_in(desk: Desk):
    t = Texter(desk.gateway.url, TWILIO_TEST_TOKEN)
    who = sms_who(desk, desk.gateway, t.phone)
    menu = t.say("hi")
    queued = t.say(pick(menu, "talk to a person"))
    assert f"getting you a person from {desk.team}" in queued and "They will text you here" in queued
    assert "(555) 010-0311" not in queued  # no longer the office number and nobody calling back

    ana = desk.staff("ana")
    queue = ana.get("/live")
    assert queue.status_code == 200 and desk.conversation(who).id in live_id(queue.text)
    assert "text message" in queue.text and t.phone not in queue.text

    turns = user_turns(desk, who)
    assert t.say("my landlord says I owe 1200 by friday") == ""  # a person reads it; the bot is quiet
    assert user_turns(desk, who) == turns, "Rasa never saw the message"

    conversation = desk.conversation(who).id
    assert ana.post(f"/live/{conversation}/take").status_code == 303
    assert desk.texts_to(t.phone)[-1] == f"You're now chatting with a person from {desk.team}."
    page = ana.get(f"/live/{conversation}")
    assert "my landlord says I owe 1200 by friday" in page.text and t.phone not in page.text

    answer = "Hi, this is Ana with the city. Has the landlord given you a written notice?"
    assert ana.post(f"/live/{conversation}/reply", {"message": answer}).status_code == 303
    sent = desk.twilio.to(t.phone)[-1]
    assert sent["body"] == answer and sent["from"] == FROM

    assert t.say("yes, a paper on the door") == ""
    assert "yes, a paper on the door" in ana.get(f"/live/{conversation}").text

    # A crisis while a person has the conversation: the crisis reply comes first, and staff see it.
    crisis = t.say("i want to kill myself")
    assert "988" in crisis and "911" in crisis
    page = ana.get(f"/live/{conversation}")
    assert "i want to kill myself" in page.text and "got the crisis reply" in page.text

    assert ana.post(f"/live/{conversation}/close").status_code == 303
    assert "back with the city's automated assistant" in desk.texts_to(t.phone)[-1]
    assert "What do you need" in t.say("hi") or "help" in t.transcript[-1][1].lower()  # the bot again

    with desk.sessions() as s:
        events = [(e.event, e.outcome) for e in s.scalars(select(HandoffLogEntry).where(
            HandoffLogEntry.team == desk.team, HandoffLogEntry.channel == "sms")).all()]
        sealed = [m.sealed for m in s.scalars(select(LiveMessage).where(LiveMessage.conversation_id == conversation))]
    assert ("requested", None) in events and ("answered", None) in events and ("closed", "answered") in events
    assert all("landlord" not in m for m in sealed), "message texts are sealed at rest"
    log = desk.gateway.log_text()
    assert "landlord" not in log and t.phone not in log and who not in log
    print("\n" + t.show() + "\n" + "\n".join(f"staff> {b}" for b in desk.texts_to(t.phone)))


def test_a_spanish_speaker_is_answered_in_spanish(desk: Desk):
    t = Texter(desk.gateway.url, TWILIO_TEST_TOKEN)
    who = sms_who(desk, desk.gateway, t.phone)
    queued = fold(t.say(pick(t.say("hola"), "hablar con una persona")))
    assert f"le comunico con una persona de {fold(desk.team)}" in queued and "le van a escribir a este numero" in queued
    row = desk.conversation(who)
    assert row.language == "es"
    sup = desk.staff("sup")
    sup.get("/live")
    assert sup.post(f"/live/{row.id}/take").status_code == 303
    assert desk.texts_to(t.phone)[-1] == f"Ya le atiende una persona de {desk.team}."
    assert "Spanish" in sup.get(f"/live/{row.id}").text
    assert sup.post(f"/live/{row.id}/close").status_code == 303
    assert desk.texts_to(t.phone)[-1].startswith("Terminó la conversación con la persona.")


def test_two_misunderstandings_in_a_row_bring_a_person(desk: Desk):
    t = Texter(desk.gateway.url, TWILIO_TEST_TOKEN)
    who = sms_who(desk, desk.gateway, t.phone)
    t.say("hi")
    first = t.say("qwrtp xkcd")
    assert "didn't understand" in first and desk.conversation(who) is None, "one miss: the bot asks again"
    second = t.say("kkkk jjjj")
    assert second.startswith("Sorry, I'm not understanding you. OK, I'm getting you a person from"), t.show()
    first_chat = desk.conversation(who)
    assert first_chat.status == "queued"

    # Back with the bot after the chat: the two misses from before it do not count again.
    ana = desk.staff("ana")
    ana.get("/live")
    assert ana.post(f"/live/{first_chat.id}/take").status_code == 303
    assert ana.post(f"/live/{first_chat.id}/close").status_code == 303
    again = t.say("zzqx vvbn")
    assert "didn't understand" in again and "getting you a person" not in again, t.show()
    assert desk.conversation(who).id == first_chat.id, "one miss after the chat: no new conversation"
    assert "getting you a person" in t.say("pppp qqqq"), t.show()
    assert desk.conversation(who).id != first_chat.id


def test_stop_mid_conversation_stops_the_staff_texts(desk: Desk):
    t, who, conversation = asks_for_a_person(desk)
    ben = desk.staff("ben")
    assert ben.post(f"/live/{conversation}/take").status_code == 303
    before = len(desk.texts_to(t.phone))
    assert t.say("STOP"), "STOP is confirmed once"
    assert ben.post(f"/live/{conversation}/reply", {"message": "Are you still there?"}).status_code == 303
    assert len(desk.texts_to(t.phone)) == before, "nothing is texted after STOP"
    page = ben.get(f"/live/{conversation}").text
    assert "texted STOP" in page and "Are you still there?" in page


def test_two_caseworkers_racing_for_one_conversation_exactly_one_wins(desk: Desk):
    t, who, conversation = asks_for_a_person(desk)
    clients = [desk.staff("ana"), desk.staff("ben")]
    for c in clients:
        c.get(f"/live/{conversation}")
    start, results = threading.Barrier(2), {}

    def take(i: int) -> None:
        start.wait()
        results[i] = clients[i].post(f"/live/{conversation}/take").status_code
    threads = [threading.Thread(target=take, args=(i,)) for i in range(2)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(30)
    assert sorted(results.values()) == [303, 409], results
    with desk.sessions() as s:
        row = s.get(LiveConversation, conversation)
        answered = s.scalars(select(HandoffLogEntry).where(HandoffLogEntry.team == desk.team,
                                                           HandoffLogEntry.event == "answered")).all()
        winner = s.scalar(select(StaffUser.username).where(StaffUser.id == row.taken_by))
    assert row.status == "active" and winner == ("ana" if results[0] == 303 else "ben")
    assert desk.texts_to(t.phone).count(f"You're now chatting with a person from {desk.team}.") == 1
    assert len(answered) >= 1


def test_another_team_cannot_see_or_take_the_conversation(desk: Desk):
    t, who, conversation = asks_for_a_person(desk)
    other = desk.staff("other")
    assert conversation not in other.get("/live").text
    assert other.get(f"/live/{conversation}").status_code == 404
    assert other.post(f"/live/{conversation}/take").status_code == 404
    assert desk.conversation(who).status == "queued"


def test_a_yes_to_a_person_after_the_crisis_reply_goes_to_the_live_queue_with_988(desk: Desk):
    t = Texter(desk.gateway.url, TWILIO_TEST_TOKEN)
    who = sms_who(desk, desk.gateway, t.phone)
    offer = t.say("i dont want to live anymore")
    assert "988" in offer
    queued = t.say("yes")
    assert f"getting you a person from {desk.team}" in queued and "988" in queued and "911" in queued
    row = desk.conversation(who)
    assert row.status == "queued" and row.crisis
    assert "crisis reply given" in desk.staff("sup").get("/live").text


def test_delete_removes_the_thread_and_keeps_the_anonymous_events(desk: Desk):
    t, who, conversation = asks_for_a_person(desk)
    t.say("my name is Rosa Quillfeather")
    reply = t.say("DELETE")
    if "DELETE" in reply:  # asked to confirm (the callback or referral it would cancel)
        reply = t.say("DELETE")
    with desk.sessions() as s:
        assert s.get(LiveConversation, conversation) is None
        assert s.scalars(select(LiveMessage).where(LiveMessage.conversation_id == conversation)).all() == []
        assert s.get(ContactEntry, who) is None
        assert s.scalars(select(HandoffLogEntry).where(HandoffLogEntry.team == desk.team)).all()


# --- the web chat ------------------------------------------------------------------------------

def test_web_resident_gets_a_person_and_sees_the_answers_live(desk: Desk):
    v = Visitor(desk.gateway)
    body = v.choose(v.say("hi"), "talk to a person")
    assert body["live"] is True and "Their answers show up here" in text(body)
    who = pseudonym(desk.gateway.env["PSEUDONYM_KEY"], "web", v.session)
    quiet = v.say("hello? i need help with a utility shutoff")
    assert quiet["messages"] == [] and quiet["live"] is True

    ana = desk.staff("ana")
    conversation = desk.conversation(who).id
    assert "web chat" in ana.get("/live").text
    assert ana.post(f"/live/{conversation}/take").status_code == 303
    first = poll(desk.gateway, v.session, wait=5)
    assert [m["text"] for m in first["messages"]] == [f"You're now chatting with a person from {desk.team}."]
    last = first["messages"][-1]["id"]

    # The widget's long poll is waiting when the answer is sent: it comes back with it, not at its timeout.
    got: dict = {}
    waiting = threading.Thread(target=lambda: got.update(poll(desk.gateway, v.session, after=last, wait=20)))
    started = time.monotonic()
    waiting.start()
    time.sleep(1)
    answer = "Hi, I'm Ana. Which utility is it, and do you have the shutoff date?"
    assert ana.post(f"/live/{conversation}/reply", {"message": answer}).status_code == 303
    waiting.join(25)
    assert [m["text"] for m in got["messages"]] == [answer] and time.monotonic() - started < 10
    assert "utility shutoff" in ana.get(f"/live/{conversation}").text

    assert v.say("electric, on the 15th")["messages"] == []
    assert "electric, on the 15th" in ana.get(f"/live/{conversation}").text
    assert ana.post(f"/live/{conversation}/close").status_code == 303
    closed = poll(desk.gateway, v.session, after=got["messages"][-1]["id"], wait=5)
    assert "back with the city's automated assistant" in closed["messages"][0]["text"] and closed["live"] is False
    again = v.say("hi")
    assert again["live"] is False and again["messages"]
    transcript = [("you", "hi"), ("you", "[Talk to a person]"), ("bot", text(body)),
                  ("you", "hello? i need help with a utility shutoff"), *[("staff", m["text"]) for m in first["messages"]],
                  ("staff", answer), ("you", "electric, on the 15th"), ("system", closed["messages"][0]["text"])]
    print("\n" + "\n".join(f"{a}> {b}" for a, b in transcript))


def test_the_long_poll_refuses_a_made_up_session(desk: Desk):
    async def go():
        async with aiohttp.ClientSession() as s:
            async with s.get(f"{desk.gateway.url}/chat/live", headers={"X-Chat-Session": "x" * 20}) as resp:
                return resp.status
    assert asyncio.run(go()) == 400


# --- closed desk, and nobody free --------------------------------------------------------------

@pytest.fixture(scope="module")
def closed_gateway(desk: Desk):
    gw = start_gateway(desk.stack, _gateway_env(desk.twilio, desk.team, "never", desk.gateway.env["PSEUDONYM_KEY"]),
                       log_name="gateway-live-closed")
    yield gw
    stop_gateway(gw)


def test_after_hours_sms_resident_leaves_a_callback_with_a_preferred_time(desk: Desk, closed_gateway):
    t = Texter(closed_gateway.url, TWILIO_TEST_TOKEN)
    who = sms_who(desk, closed_gateway, t.phone)
    offer = t.say(pick(t.say("hi"), "talk to a person"))
    assert offer.startswith("Nobody can chat right now.") and "call back" in offer and "211" in offer and "988" not in offer
    noted = t.say("tomorrow morning")
    assert noted == "Thanks. A person will call you at this number tomorrow morning. For help now, call 211."
    with desk.sessions() as s:
        request = s.scalar(select(CallbackRequest).where(CallbackRequest.pseudonym == who))
        assert request.reason == "live" and request.preferred_time == "tomorrow morning"
        assert s.get(ContactEntry, who) is not None
    assert desk.conversation(who).status == "closed" and desk.conversation(who).outcome == "callback"
    assert "What do you need" in t.say("hi")  # back with the bot
    print("\n" + t.show())


def test_after_hours_in_spanish(desk: Desk, closed_gateway):
    t = Texter(closed_gateway.url, TWILIO_TEST_TOKEN)
    offer = t.say(pick(t.say("hola"), "hablar con una persona"))
    assert fold(offer).startswith("en este momento no hay nadie disponible para atenderle.") and "211" in offer and "llamemos" in offer
    noted = fold(t.say("en la tarde"))  # SMS bodies are folded to plain letters where they must be
    assert "una persona le llamara a este numero en la tarde" in noted and "211" in noted


def test_after_hours_a_crisis_gets_988(desk: Desk, closed_gateway):
    t = Texter(closed_gateway.url, TWILIO_TEST_TOKEN)
    assert "988" in t.say("i want to kill myself")
    offer = t.say("talk to a person")
    assert "211" in offer and "988" in offer and "911" in offer


def test_nobody_takes_it_in_time_a_callback_is_offered(desk: Desk):
    gw = start_gateway(desk.stack, _gateway_env(desk.twilio, desk.team, "always", desk.gateway.env["PSEUDONYM_KEY"],
                                                LIVE_WAIT_SECONDS="2"), log_name="gateway-live-wait")
    try:
        v = Visitor(gw)
        body = v.choose(v.say("hi"), "talk to a person")
        assert body["live"] is True
        t = Texter(gw.url, TWILIO_TEST_TOKEN)
        t.say(pick(t.say("hi"), "talk to a person"))
        offered = poll(gw, v.session, wait=15)
        assert "nobody is free" in offered["messages"][0]["text"] and "211" in offered["messages"][0]["text"]
        deadline = time.monotonic() + 15
        while not desk.texts_to(t.phone) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert "nobody is free" in desk.texts_to(t.phone)[0]
        noted = v.say("after 3pm")
        assert "A person will call you after 3 PM" in text(noted) and noted["ask_contact"] is True
    finally:
        stop_gateway(gw)
