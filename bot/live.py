"""The gateway's side of live handoff (referrals/live.py holds the conversations and the texts).

Where it hooks into a turn:
- before Rasa (`inbound`): while a person has the conversation (queued or taken), the resident's words go
  into the thread and the bot says nothing, but a crisis still gets the crisis reply first. While a callback
  is offered, a time ("tomorrow morning") or "yes" records it; anything else goes back to the bot.
- after Rasa (`after_turn`): the reply to "talk to a person" (utter_human), a "yes" to a person after the
  crisis reply, or a second "Sorry, I didn't understand" in a row becomes the handoff: queued for the team the need routes to, with the usual wait, or,
  outside the team's hours, the callback offer with 211 (and 988 after a crisis). After a crisis outside
  hours the callback the action recorded stands, with its own reply (988 and 911).
- `poll`: GET /chat/live, the web chat's long poll for what staff wrote.
- a sweeper: a conversation nobody took within LIVE_WAIT_SECONDS gets the callback offer (texted on SMS).

Nothing here keeps state in the process: every gateway reads the same rows, and the conditional UPDATEs
in referrals/live.py make each change happen once.
"""

from __future__ import annotations

import asyncio
import re
from functools import lru_cache
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from aiohttp import web
from sqlalchemy.exc import SQLAlchemyError

from bot.render import YES
from bot.safety import is_crisis
from referrals import case_texts, live
from referrals.callbacks import StaffedHours, call_window, hours_label, parse_preferred_time, request_callback
from referrals.config import ROOT
from referrals.residents import save_contact
from referrals.language import fold
from referrals.outbound import Outbound
from referrals.privacy import recent_crisis
from referrals.vault import pseudonym

if TYPE_CHECKING:
    from bot.gateway import Gateway, Reply

POLL_MAX_S = 25.0
POLL_STEP_S = 0.5
POLL_RETRY_S = 5
MAX_MESSAGE_ID = 2**63 - 1
SESSION_HEADER = "X-Chat-Session"


def _domain_texts(name: str) -> dict[str, str]:
    """A domain.yml response by language ('es' for the Spanish variant, 'en' for the default)."""
    import yaml

    domain = yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))
    out = {}
    for variant in domain["responses"][name]:
        lang = "es" if any(c.get("value") == "es" for c in variant.get("condition") or []) else "en"
        out[lang] = variant["text"]
    return out


# Read on first use, not at import (nothing reads a file at import time: docs/architecture.md).
@lru_cache(maxsize=1)
def human_replies() -> frozenset[str]:
    return frozenset(_domain_texts("utter_human").values())


@lru_cache(maxsize=1)
def default_replies() -> frozenset[str]:
    """"Sorry, I didn't understand..." in each language."""
    return frozenset(_domain_texts("utter_default").values())


@lru_cache(maxsize=1)
def crisis_text() -> dict[str, str]:
    return _domain_texts("utter_crisis")


@dataclass
class LiveAnswer:
    """What the gateway answers a message that live handoff handled (no Rasa turn)."""

    texts: list[str] = field(default_factory=list)
    open: bool = True  # a person still has (or will have) the conversation
    ask_contact: bool = False  # web: the callback needs a phone number


class LiveDesk:
    def __init__(self, gateway: "Gateway"):
        self.gw = gateway
        self.teams = live.teams_from_settings(gateway.settings)  # a bad LIVE_TEAMS stops the start
        self.wait = timedelta(seconds=int(gateway.settings["LIVE_WAIT_SECONDS"]))
        self.staffed = StaffedHours.from_settings(gateway.settings)
        self.outbound = Outbound(gateway.settings, gateway.sessions)
        self.sweeper: asyncio.Task | None = None
        # The long poll waiting for each web conversation (pseudonym -> a token of that poll): one at a
        # time, so a session cannot hold many polls, each reading the database twice a second.
        self.polls: dict[str, object] = {}

    async def start(self, _app: web.Application) -> None:
        if self.teams:  # LIVE_TEAMS=off: nothing is ever queued here
            self.sweeper = asyncio.create_task(self._sweep_forever())

    async def stop(self, _app: web.Application) -> None:
        if self.sweeper:
            self.sweeper.cancel()

    # --- before Rasa ----------------------------------------------------------------------------

    async def inbound(self, who: str, text: str, channel: str, language: str,
                      number: str | None = None) -> LiveAnswer | None:
        """Handle a message of a resident with an open live conversation; None lets the bot answer it."""
        crisis = is_crisis(text)
        try:
            answer = await self.gw._db(self._inbound, who, text, channel, crisis, number)
        except SQLAlchemyError as exc:  # the database is down: the turn goes on and gives its own answer
            self.gw_log("live_unavailable", error=type(exc).__name__)
            return None
        if answer is None:
            return None
        if crisis and answer.open:
            await self.gw._db(self.gw._flag_crisis, who, channel, language)
            answer.texts.insert(0, crisis_text().get(language, crisis_text()["en"]))
        self.gw_log("live_inbound", channel=channel, crisis=crisis, open=answer.open)
        return answer

    def _inbound(self, who: str, text: str, channel: str, crisis: bool, number: str | None) -> LiveAnswer | None:
        with self.gw.sessions.begin() as session:
            row = live.current(session, who)
            if row is None:
                return None
            if row.status in ("queued", "active"):
                if crisis:
                    row.crisis = True
                live.add_message(session, row, "resident", text, self.gw.vault.seal)
                return LiveAnswer()
            # status "offered": a callback was offered
            preferred = parse_preferred_time(text)
            words = re.sub(r"[^\w\s]", " ", fold(text)).split()
            if crisis or not (preferred or (words and words[0] in YES)):
                live.close(session, row, "no_callback")
                return None  # the bot answers (a crisis gets its reply there)
            request_callback(session, who, reason="live", channel=channel, language=row.language,
                             call_by=call_window(self.staffed).call_by, preferred=preferred)
            if channel == "sms" and number:
                save_contact(session, who, "sms", self.gw.vault.seal(number))
            live.close(session, row, "callback")
            when = preferred.label(row.language) if preferred else live.text(
                row.language, "when_open", hours=self.staffed_text(row.language))
            key = "callback_sms" if channel == "sms" else "callback_web"
            return LiveAnswer([live.text(row.language, key, when=when)], open=False, ask_contact=channel != "sms")

    def staffed_text(self, language: str) -> str:
        return hours_label(self.staffed, language)

    async def case_reply(self, who: str, text: str) -> str | None:
        """A text answering a caseworker's text (referrals/case_texts.py): into the case thread, and the short
        acknowledgement to send; None when it is not one (or is a crisis: the bot answers that)."""
        if is_crisis(text):
            return None
        try:
            language = await self.gw._db(self._case_reply, who, text)
        except SQLAlchemyError as exc:
            self.gw_log("live_unavailable", error=type(exc).__name__)
            return None
        if language is None:
            return None
        self.gw_log("case_reply")
        return case_texts.ACK.get(language, case_texts.ACK["en"])

    def _case_reply(self, who: str, text: str) -> str | None:
        with self.gw.sessions.begin() as session:
            case = case_texts.awaiting_reply(session, who)
            if case is None:
                return None
            case_texts.add(session, case, "resident", text, self.gw.vault.seal)
            return case.language

    # --- after Rasa -----------------------------------------------------------------------------

    async def after_turn(self, who: str, channel: str, reply: "Reply", number: str | None = None) -> None:
        """Turn the bot's "talk to a person" reply (or a yes to a person after a crisis) into the handoff."""
        if reply.failed or not self.teams:  # LIVE_TEAMS=off: the bot's own reply (the office number)
            return
        asked_person = any(m.get("text") in human_replies() for m in reply.messages)
        crisis_yes = bool(reply.extra.get("callback_requested"))
        tracker, lead = None, ""
        if not (asked_person or crisis_yes) and any(m.get("text") in default_replies() for m in reply.messages):
            tracker = await self._tracker(who)  # a second misunderstanding in a row: a person takes over
            try:  # only misunderstandings since the last chat with a person count (Rasa never saw that chat)
                since = await self.gw._db(self._last_closed, who)
            except SQLAlchemyError:
                since = None
            asked_person = _misunderstood_twice(tracker, since.timestamp() if since else None)
            lead = live.text(reply.language, "misunderstood") if asked_person else ""
        if not (asked_person or crisis_yes):
            return
        slots = (tracker if tracker is not None else await self._tracker(who)).get("slots") or {}
        team = live.route(self.teams, slots.get("need"))
        if crisis_yes and not team.open_now():
            # The callback the action recorded stands, with its reply (when the call comes, 911); 211 and
            # 988 for right now are added when the reply does not already give 988.
            if reply.messages and not any("988" in (m.get("text") or "") for m in reply.messages):
                reply.messages[0]["text"] += live.text(reply.language, "help_now")
            return
        asked = [name for name in live.ASKED_LABELS if slots.get(name) not in (None, "", [])]
        try:
            text, queued = await self.gw._db(self._request, who, channel, reply.language, team, slots, asked,
                                             crisis_yes, number)
        except SQLAlchemyError as exc:  # no queue without the database: the bot's own reply stands
            self.gw_log("live_unavailable", error=type(exc).__name__)
            return
        reply.messages[:] = [{"text": lead + text, "buttons": []}]
        reply.extra["live"] = queued
        reply.extra["callback_requested"] = False  # the person texts or chats; no contact step now
        self.gw_log("live_requested", channel=channel, queued=queued, crisis=crisis_yes)

    def _request(self, who: str, channel: str, language: str, team: live.Team, slots: dict[str, Any],
                 asked: list[str], crisis_yes: bool, number: str | None) -> tuple[str, bool]:
        with self.gw.sessions.begin() as session:
            crisis = crisis_yes or recent_crisis(session, who)
            row = live.request_person(session, who, channel=channel, language=language, team=team,
                                      need=_closed_value(slots.get("need")),
                                      neighborhood=_closed_value(slots.get("neighborhood")), asked=asked,
                                      crisis=crisis)
            if channel == "sms" and number:
                # Kept (sealed) because the resident asked for a person: staff answers go to this number.
                save_contact(session, who, "sms", self.gw.vault.seal(number))
            if row.status == "offered":
                return live.offer_text(language, "after_hours", team, crisis), False
            return live.queued_text(language, channel, team.name, live.usual_wait(session, team.name),
                                    crisis), True

    def _last_closed(self, who: str):
        with self.gw.sessions() as session:
            return live.last_closed_at(session, who)

    async def _tracker(self, who: str) -> dict[str, Any]:
        try:
            if self.gw.rasa is None:  # set at startup, before any request is served
                raise RuntimeError("the gateway's Rasa client is not started")
            return await self.gw.rasa.tracker(who)
        except Exception as exc:  # no summary is better than no person
            self.gw_log("live_summary_unavailable", error=type(exc).__name__)
            return {}

    # --- the web chat's long poll -----------------------------------------------------------------

    async def poll(self, request: web.Request) -> web.Response:
        """GET /chat/live?after=ID[&wait=S], the session in the X-Chat-Session header (never in the URL: proxies
        log URLs, and the session id is the resident's key to the conversation): staff messages after ID,
        waiting up to S seconds. One poll per session waits at a time: a newer one ends the older (429)."""
        address = self.gw.client_address(request)
        if not self.gw.by_address.hit("live:" + address):
            return self.gw.too_many("Too many requests.", self.gw.by_address.retry_after("live:" + address))
        session = request.headers.get(SESSION_HEADER)
        if session is None or not self.gw.valid_session(session):
            return web.json_response({"error": f"Expected a chat session in the {SESSION_HEADER} header."},
                                     status=400)
        try:
            after = max(0, int(request.query.get("after", "0")))
            wait = min(POLL_MAX_S, max(0.0, float(request.query.get("wait", str(POLL_MAX_S)))))
        except ValueError:
            return web.json_response({"error": "'after' and 'wait' must be numbers."}, status=400)
        if after > MAX_MESSAGE_ID:  # no message has such an id (and SQLite cannot compare with it)
            return web.json_response({"error": "'after' is not a message id."}, status=400)
        who = pseudonym(self.gw.pseudonym_key, "web", session)
        mine = object()
        self.polls[who] = mine  # an older poll of this session sees it and ends
        loop = asyncio.get_running_loop()
        until = loop.time() + wait
        try:
            while True:
                if self.polls.get(who) is not mine:
                    return self.gw.too_many("A newer poll of this chat took over.", POLL_RETRY_S)
                found, still_open = await self.gw._db(self._new_messages, who, after)
                if found or not still_open or loop.time() >= until:
                    return web.json_response({"messages": found, "live": still_open})
                await asyncio.sleep(POLL_STEP_S)
        finally:
            if self.polls.get(who) is mine:
                del self.polls[who]

    def _new_messages(self, who: str, after: int) -> tuple[list[dict[str, Any]], bool]:
        with self.gw.sessions() as session:
            rows = live.messages_for(session, who, after)
            still_open = live.current(session, who) is not None
            return [{"id": m.id, "from": m.sender, "text": self.gw.vault.open(m.sealed)} for m in rows], still_open

    # --- nobody answered in time --------------------------------------------------------------------

    async def _sweep_forever(self) -> None:
        period = max(0.5, min(5.0, self.wait.total_seconds() / 3))
        while True:
            await asyncio.sleep(period)
            try:
                n = await self.gw._db(self.sweep)
                if n:
                    self.gw_log("live_timed_out", count=n)
            except Exception as exc:  # the next round tries again
                self.gw_log("live_sweep_failed", error=type(exc).__name__)

    def sweep(self) -> int:
        """Offer a callback to residents nobody answered within LIVE_WAIT_SECONDS (on SMS by text)."""
        to_text = []
        with self.gw.sessions.begin() as session:
            expired = live.expire_waiting(session, self.wait)
            for row in expired:
                body = live.offer_text(row.language, "timed_out", None, row.crisis)
                message = live.add_message(session, row, "system", body, self.gw.vault.seal)
                if row.channel == "sms":
                    to_text.append((message.id, row.pseudonym, body))
        for message_id, who, body in to_text:
            result = self.outbound.send(who, body, "live")
            with self.gw.sessions.begin() as session:
                sent = session.get(live.LiveMessage, message_id)
                if sent is not None:  # None: the resident's data was erased while the text went out
                    sent.delivery = result.status
        return len(expired)

    def gw_log(self, event: str, **fields: Any) -> None:
        from bot.gateway import log_event

        log_event(event, **fields)


def _misunderstood_twice(tracker: dict[str, Any], since: float | None = None) -> bool:
    """Whether the assistant's last two answers were both "Sorry, I didn't understand", both said after
    `since` (epoch seconds: when the resident's last chat with a person ended, so a miss from before that
    chat does not count again)."""
    said = [e.get("text") for e in tracker.get("events") or []
            if e.get("event") == "bot" and (since is None or float(e.get("timestamp") or 0) > since)]
    return len(said) >= 2 and said[-1] in default_replies() and said[-2] in default_replies()


def _closed_value(value: Any) -> str | None:
    """A slot value for the summary only when it is a short code (need, neighborhood), never free text."""
    return value if isinstance(value, str) and len(value) <= 100 and "\n" not in value else None
