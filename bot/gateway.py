"""The resident gateway: the one public entry point (aiohttp).

    POST /sms           Twilio's messaging webhook: signature checked, reply as TwiML
    GET  /              the web chat page; assets under /static/
    POST /chat          the widget's endpoint (JSON)
    GET  /chat/live     the widget's long poll for what a person (staff) wrote in a live conversation
    POST /chat/contact  the widget sends how a caseworker can reach the resident: sealed in the vault, then
                        the referral goes on (Rasa hears only that a contact was given, never the contact)
    GET  /healthz       each part a resident needs (Rasa, action server, databases): 200, or 503 if one is down

Rasa and the action server listen on loopback only; nothing else reaches them. What the gateway does
to every message before Rasa sees it: the sender becomes a keyed pseudonym (referrals/vault.py), crisis
words are caught (bot/conversation.py), a numbered reply becomes the payload of the choice it names.
What it does to every reply: buttons become numbered choices on SMS and stay buttons on the web, and
SMS bodies are shaped to fit a basic phone (bot/sms.py).

One deadline per turn (RASA_TIMEOUT, default 10 s): whatever is slow (Rasa, the action server, a locked
or unreachable database), the resident gets an answer in time; a turn that failed is undone (Rasa's
tracker rewound, a referral it stored removed) so it leaves nothing behind. A Twilio retry of a message
is processed exactly once (bot/stores.py). Nothing about a conversation is kept in this process: the
language and the last choices live in the database (or Redis), so several gateways can serve.

Logs are structured (one JSON object a line) and never hold a phone number, a pseudonym or message text.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
from datetime import date
import logging
import re
import secrets
import time
import traceback
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from sqlalchemy import text as text_sql
from sqlalchemy.exc import SQLAlchemyError
from twilio.request_validator import RequestValidator
from twilio.twiml.messaging_response import MessagingResponse

from bot.conversation import TROUBLE, Turn, accept_with_time, detector, handle_turn
from bot.keywords import (KeywordHit, ReferralStatus, keyword_text, match_keyword, my_data_text, status_label,
                          status_text)
from bot.limits import Limit, Limiter
from bot.live import LiveDesk
from bot.rasa_client import RasaClient, RasaUnavailable
from bot.stores import (ConversationStore, RedisStateStore, StateStore, claim_message, finish_message,
                        message_state, tracker_store_url, undo_turn)
from bot.redact import redact
from bot.render import match_choice, render_plain
from bot.safety import is_crisis
from bot.sms import MAX_CHARS, shape
from referrals.config import ROOT, Settings
from referrals.callbacks import open_request, parse_preferred_time, set_preferred_time
from referrals.db import make_engine, make_sessionmaker
from referrals.intake import load_programs
from referrals.residents import has_open_referral, save_contact
from referrals.keys import check_vault
from referrals.followups import TEXTS as FOLLOWUP_TEXTS, parse_answer, pending_case, record_answer
from referrals.privacy import (delete_resident, flag_crisis, held_data, is_opted_out, open_work, recent_crisis,
                               set_opted_out)
from referrals.vault import Vault, pseudonym

logger = logging.getLogger("bot.gateway")

ACTION_MARGIN_S = 1.5  # the action server stores nothing later than this before the turn's deadline
UNDO_GRACE_S = 3.0     # a failed turn is undone this long after its deadline, once no write can land
HEALTH_TIMEOUT_S = 2.0

STATIC = Path(__file__).resolve().parent / "static"
MAX_FORM_BYTES = 64 * 1024  # Twilio's form for one message is a few kB
MAX_JSON_BYTES = 16 * 1024
# A web session id is issued by the gateway: random part, dot, its HMAC (see Gateway.issue_session).
SESSION_RE = re.compile(r"^[A-Za-z0-9_-]{24}\.[A-Za-z0-9_-]{22}$")
TWILIO_FORM = "application/x-www-form-urlencoded"
EMAIL_RE = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,190}\.[A-Za-z]{2,24}$")

PENDING_SECONDS = 15 * 60  # how long a DELETE confirmation or a preferred call time may follow

NOTICES = {
    "en": {
        "media_only": "Thanks! I can only read text. Please tell me in words what you need help with.",
        "empty": "I didn't get any words. Please tell me what you need help with, like a job, rent or savings.",
        "too_long": "That message is too long for me. Please send a shorter one (under 1,600 characters).",
        "contact_saved": "Thank you. A caseworker will use this to reach you about your referral.",
        "contact_invalid": "Please enter a US phone number (10 digits) or an email address.",
        "contact_no_referral": "There is no referral to attach this to yet.",
        "slow_down": "You're sending messages too fast. Please wait a minute, then try again.",
        "callback_time": "Thanks. We noted {when} as a good time to call you.",
        "callback_contact_saved": "Thank you. A person from the city will use this to contact you.",
    },
    "es": {
        "media_only": "Gracias. Solo puedo leer texto. Por favor, escriba con palabras en que necesita ayuda.",
        "empty": "No recibi palabras. Digame en que necesita ayuda, por ejemplo trabajo, renta o ahorros.",
        "too_long": "Ese mensaje es muy largo. Por favor, envie uno mas corto (menos de 1,600 caracteres).",
        "contact_saved": "Gracias. Un trabajador social lo usara para comunicarse con usted sobre su referido.",
        "contact_invalid": "Escriba un numero de telefono de EE. UU. (10 digitos) o un correo electronico.",
        "contact_no_referral": "Todavia no hay un referido para guardar este dato.",
        "slow_down": "Esta enviando mensajes muy rapido. Espere un minuto y vuelva a intentarlo.",
        "callback_time": "Gracias. Anotamos {when} como buena hora para llamarle.",
        "callback_contact_saved": "Gracias. Una persona de la ciudad lo usará para comunicarse con usted.",
    },
}


def _crisis_replies() -> frozenset[str]:
    """The texts of domain.yml's crisis reply, in every language: seeing one means the turn was a crisis."""
    import yaml

    domain = yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))
    return frozenset(v["text"] for v in domain["responses"]["utter_crisis"])


CRISIS_REPLIES = _crisis_replies()


def log_event(event: str, **fields: Any) -> None:
    """One structured line; callers pass only counts, codes and timings, never personal data."""
    logger.info(json.dumps({"event": event, **fields}, sort_keys=True))


def guess_language(text: str) -> str:
    return (detector().detect(text) if text else None) or "en"


def clean_text(raw: str) -> str:
    """Drop control characters (binary junk, NULs) but keep newlines; the rest is the resident's text."""
    return "".join(c for c in raw if c in "\n\t" or (c >= " " and c != "\x7f")).strip()


class LRU(OrderedDict):
    """A small bounded map for what a conversation may do with its very next message (kept in this process)."""

    def __init__(self, size: int = 50_000):
        super().__init__()
        self.size = size

    def put(self, key: str, value: Any) -> None:
        self[key] = value
        self.move_to_end(key)
        while len(self) > self.size:
            self.popitem(last=False)


@dataclass
class Reply:
    messages: list[dict[str, Any]]  # visible bot messages: {"text", "buttons"}
    language: str
    referral_created: bool = False
    failed: bool = False
    crisis: bool = False
    extra: dict[str, Any] = field(default_factory=dict)
    ask_contact: bool = False  # the web contact step is open: the widget shows the contact field


class Gateway:
    def __init__(self, settings: Settings, rasa_url: str | None = None, rasa_token: str | None = None,
                 database_url: str | None = None, actions_secret: str | None = None):
        self.settings = settings
        self.rasa_url = rasa_url or settings["RASA_URL"]
        self.rasa_token = rasa_token if rasa_token is not None else settings["RASA_TOKEN"]
        self.actions_secret = actions_secret if actions_secret is not None else settings["ACTIONS_SECRET"]
        self.timeout = float(settings["RASA_TIMEOUT"])
        self.pseudonym_key = settings["PSEUDONYM_KEY"]
        self.vault = Vault.from_settings(settings)
        pseudonym(self.pseudonym_key, "sms", "+10000000000")  # fail at start, not on the first message
        self.engine = make_engine(database_url or settings.database_url)
        self.sessions = make_sessionmaker(self.engine)
        try:  # a wrong vault key stops the gateway here (KeyMissing), before it seals anything under it
            check_vault(self.sessions, self.vault)
        except SQLAlchemyError as exc:  # the database may come up later; the key is checked by the next start
            logger.warning(json.dumps({"event": "vault_check_skipped", "error": type(exc).__name__}))
        token = settings["TWILIO_AUTH_TOKEN"]
        self.validator = RequestValidator(token) if token else None
        self.public_base = settings["PUBLIC_BASE_URL"].rstrip("/")
        # Between two turns: the language and the choices shown last, in the database or Redis.
        redis_url = settings["REDIS_URL"]
        self.conversations = ConversationStore(tracker_store_url(settings))
        if redis_url:
            self.state = RedisStateStore(redis_url)
        else:
            self.conversations.create_state_table()
            self.state = StateStore(self.conversations.sessions)
        self.actions_url = (settings["ACTIONS_URL"] or f"http://127.0.0.1:{settings['ACTIONS_PORT']}").rstrip("/")
        self.undoing: set[asyncio.Task] = set()
        # Web session ids are signed with a key derived from PSEUDONYM_KEY: one secret less to manage.
        self.session_key = hmac.new(self.pseudonym_key.encode(), b"web-session-ids", hashlib.sha256).digest()
        self.trust_proxy = settings["GATEWAY_TRUST_PROXY"] == "1"
        self.by_address = Limiter(Limit.parse(settings["RATE_LIMIT_ADDRESS"], "RATE_LIMIT_ADDRESS"))
        self.new_sessions = Limiter(Limit.parse(settings["RATE_LIMIT_NEW_SESSIONS"], "RATE_LIMIT_NEW_SESSIONS"))
        self.by_session = Limiter(Limit.parse(settings["RATE_LIMIT_SESSION"], "RATE_LIMIT_SESSION"))
        self.by_number = Limiter(Limit.parse(settings["RATE_LIMIT_NUMBER"], "RATE_LIMIT_NUMBER"))
        # Per conversation, for the next message only: a DELETE waiting for its confirmation, and a
        # callback request that may take a preferred time ("after 3pm"). Both expire (monotonic deadline).
        # Kept in this process (a known gap with several gateways: docs/operations.md).
        self.pending_delete = LRU()
        self.awaiting_time = LRU()
        self.http: aiohttp.ClientSession | None = None
        self.rasa: RasaClient | None = None
        self.live = LiveDesk(self)  # a person in the same thread (bot/live.py)

    # --- lifecycle --------------------------------------------------------------------------

    async def startup(self, _app: web.Application) -> None:
        await asyncio.to_thread(detector)  # load the language detector now, not in a resident's first turn
        connector = aiohttp.TCPConnector(limit=100, keepalive_timeout=30)
        self.http = aiohttp.ClientSession(connector=connector)
        self.rasa = RasaClient(self.http, self.rasa_url, self.rasa_token, timeout=self.timeout,
                               actions_secret=self.actions_secret)
        if not self.validator:
            logger.warning(json.dumps({"event": "sms_disabled", "why": "TWILIO_AUTH_TOKEN is not set; "
                                       "POST /sms refuses every request"}))

    async def cleanup(self, _app: web.Application) -> None:
        for task in list(self.undoing):  # a failed turn's undo is finished before the process goes
            try:
                await asyncio.wait_for(task, UNDO_GRACE_S + 10)
            except Exception:
                pass
        if self.http:
            await self.http.close()
        self.engine.dispose()
        self.conversations.dispose()

    # --- one turn, any channel ----------------------------------------------------------------

    def deadline(self) -> float:
        return asyncio.get_running_loop().time() + self.timeout

    async def remembered(self, who: str) -> tuple[str | None, list[dict[str, Any]] | None]:
        """(language, last choices) of a conversation; (None, None) if unknown or the store is down."""
        try:
            return await self._db(self.state.get, who)
        except Exception as exc:  # a store that is down costs the resident the shortcut, not the turn
            log_event("state_unavailable", error=type(exc).__name__)
            return None, None

    async def turn(self, sender: str, text: str, channel: str, language_hint: str | None = None,
                   deadline: float | None = None) -> Reply:
        """Send a resident's text through Rasa within the turn's deadline; remember the choices offered.

        On any failure (Rasa down or slow, an empty reply, a database past the deadline) the resident
        gets the "trouble" text and the turn is undone in the background (see `_undo`)."""
        loop = asyncio.get_running_loop()
        deadline = deadline or self.deadline()
        started, started_wall = time.monotonic(), time.time()
        turn_id = secrets.token_hex(8)
        language = language_hint or "en"
        redaction = redact(text)
        sent = False
        before: tuple[str | None, list[dict[str, Any]] | None] = (None, None)
        try:
            # The SMS handler's own timeout is a little later, so this turn notices it first and is undone.
            async with asyncio.timeout_at(deadline):
                remembered_language, buttons = before = await self.remembered(sender)
                language = remembered_language or language_hint or guess_language(text)
                # Phone numbers, emails, SSNs, card and account numbers and street addresses become typed
                # placeholders here, so they never reach Rasa's tracker (the NLU is trained on them).
                # The action server gets the turn's deadline (wall clock) and stores nothing after it.
                meta = {"turn": turn_id, "deadline": round(started_wall + (deadline - loop.time()) - ACTION_MARGIN_S, 3)}
                sent = True
                turn = await handle_turn(self.rasa, sender, redaction.text, channel, language,
                                         known_buttons=buttons if buttons is not None else [], metadata=meta)
                visible, created, ask_contact, callback = [], False, False, False
                for m in turn.messages:
                    custom = m.get("custom")
                    if isinstance(custom, dict):
                        created = created or bool(custom.get("referral_created"))
                        ask_contact = ask_contact or bool(custom.get("ask_contact"))
                        callback = callback or bool(custom.get("callback_requested"))
                        if custom.get("multi_select") and visible:
                            visible[-1]["multiple"] = True  # pick-all-that-apply: checkboxes on the web
                        continue
                    visible.append({"text": m.get("text") or "", "buttons": m.get("buttons") or []})
                # A crisis caught by the keywords (sent as /crisis) or by the model (the reply is the crisis reply).
                crisis = turn.crisis or any(m["text"] in CRISIS_REPLIES for m in visible)
                if crisis:
                    # Staff see that a conversation needed the crisis reply: when, channel, language. Never the words.
                    await self._db(self._flag_crisis, sender, channel, language)
                if not turn.failed:
                    texts = " ".join(m["text"] for m in visible if m["text"])
                    if texts:
                        language = guess_language(texts)
                    last = next((m["buttons"] for m in reversed(visible) if m["buttons"]), [])
                    await self._db(self.state.put, sender, language, last, max(0.05, deadline - loop.time() - 0.2))
        except asyncio.CancelledError:
            if sent:
                self.undo_later(sender, turn_id, started_wall, before)
            raise
        except (TimeoutError, SQLAlchemyError, OSError) as exc:
            log_event("turn_failed", channel=channel, error=type(exc).__name__)
            turn = Turn(messages=[{"text": TROUBLE.get(language, TROUBLE["en"])}], crisis=is_crisis(text), failed=True)
            visible, created, crisis, ask_contact, callback = turn.messages, False, turn.crisis, False, False
        if turn.failed and sent:
            self.undo_later(sender, turn_id, started_wall, before)
        if callback and not turn.failed:
            self.awaiting_time.put(sender, time.monotonic() + PENDING_SECONDS)
        log_event("turn", channel=channel, ok=not turn.failed, crisis=crisis, referral=created and not turn.failed,
                  callback=callback and not turn.failed,
                  redacted=sum(redaction.counts.values()), ms=round((time.monotonic() - started) * 1000, 1))
        if turn.failed:
            return Reply([{"text": m.get("text") or "", "buttons": []} for m in turn.messages], language,
                         failed=True, crisis=crisis, extra={"turn": turn_id, "started": started_wall, "before": before})
        return Reply(visible, language, referral_created=created, failed=False, crisis=crisis,
                     ask_contact=ask_contact, extra={"turn": turn_id, "started": started_wall, "before": before,
                                                     "callback_requested": callback})

    def undo_later(self, sender: str, turn_id: str, started_wall: float,
                   before: tuple[str | None, list[dict[str, Any]] | None] = (None, None)) -> None:
        task = asyncio.create_task(self._undo(sender, turn_id, started_wall, before))
        self.undoing.add(task)
        task.add_done_callback(self.undoing.discard)

    async def _undo(self, sender: str, turn_id: str, started_wall: float,
                    before: tuple[str | None, list[dict[str, Any]] | None] = (None, None)) -> None:
        """A turn the resident was told failed leaves nothing behind. After the action server's cutoff
        has passed (it writes nothing after the turn's deadline), remove what the turn stored (a
        referral, its log row, the consent given with it) and rewind Rasa's tracker past the message,
        if it is still the conversation's last one."""
        await asyncio.sleep(UNDO_GRACE_S)
        undone: dict[str, Any] = {}
        try:
            undone = await self._db(undo_turn, self.sessions, sender, started_wall)
            if before != (None, None):  # the choices the resident still has on screen
                await self._db(self.state.put, sender, before[0], before[1])
        except Exception as exc:
            log_event("undo_failed", part="database", error=type(exc).__name__)
        try:
            undone["rasa"] = await self.rasa.rewind_turn(sender, turn_id)
        except RasaUnavailable as exc:
            log_event("undo_failed", part="rasa", error=str(exc))
        log_event("turn_undone", **{k: v for k, v in undone.items() if v})

    def _pending(self, store: LRU, who: str) -> bool:
        """Whether `who` has an unexpired entry in `store`; the entry is used up either way."""
        deadline = store.pop(who, None)
        return deadline is not None and time.monotonic() < deadline

    async def preferred_time(self, who: str, text: str, language: str) -> str | None:
        """Right after a callback request, "after 3pm" or "mañana en la tarde" is the time to call: noted
        on the request (as a label from a closed vocabulary, never the words), and thanked for."""
        if not self._pending(self.awaiting_time, who):
            return None
        preferred = parse_preferred_time(text)
        if preferred is None or not await self._db(self._set_preferred_time, who, preferred):
            return None
        log_event("callback_time")
        notices = NOTICES.get(language, NOTICES["en"])
        return notices["callback_time"].format(when=preferred.label(language))

    def _set_preferred_time(self, who: str, preferred) -> bool:
        with self.sessions.begin() as session:
            return set_preferred_time(session, who, preferred)

    async def _db(self, fn, *args):
        return await asyncio.to_thread(fn, *args)

    def _seal_contact(self, who: str, kind: str, contact: str) -> None:
        with self.sessions.begin() as session:
            save_contact(session, who, kind, self.vault.seal(contact))

    def _flag_crisis(self, who: str, channel: str, language: str) -> None:
        with self.sessions.begin() as session:
            flag_crisis(session, who, channel, language)

    def _sms_state(self, who: str, text: str | None) -> tuple[bool, str | None]:
        """One transaction per message: is the number opted out, and does `text` answer a follow-up
        (then the outcome is recorded and the reply returned)?"""
        with self.sessions.begin() as session:
            if is_opted_out(session, who):
                return True, None
            case = pending_case(session, who) if text is not None else None
            if case is None:
                return False, None
            key = record_answer(session, case, parse_answer(text))
            if key is None:
                return False, None
            log_event("followup_answer", outcome=key)
            return False, FOLLOWUP_TEXTS.get(case.language, FOLLOWUP_TEXTS["en"])[key]

    def _contact_purpose(self, who: str) -> str | None:
        """What a contact typed in the widget is for: "referral", "callback", or None (nothing yet)."""
        with self.sessions() as session:
            if has_open_referral(session, who):
                return "referral"
            return "callback" if open_request(session, who) is not None else None

    # --- abuse: who is asking, signed session ids, payload strings, rate limits -------------------

    def client_address(self, request: web.Request) -> str:
        if self.trust_proxy:  # the proxy appends the address it saw: the last entry is the one to trust
            forwarded = request.headers.get("X-Forwarded-For", "").split(",")[-1].strip()
            if forwarded:
                return forwarded[:64]
        return request.remote or "unknown"

    def _session_mac(self, random_part: str) -> str:
        digest = hmac.new(self.session_key, random_part.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode()[:22]

    def issue_session(self) -> str:
        random_part = secrets.token_urlsafe(18)  # 24 characters
        return f"{random_part}.{self._session_mac(random_part)}"

    def valid_session(self, session: Any) -> bool:
        if not isinstance(session, str) or not SESSION_RE.match(session):
            return False
        random_part, mac = session.split(".")
        return hmac.compare_digest(mac, self._session_mac(random_part))

    @staticmethod
    def words_unless_shown(text: str, channel: str, buttons: list[dict[str, Any]] | None = None) -> str:
        """Only the choices on screen are payloads (`/intent{...}`); anything else is the resident's words.
        The web widget sends a clicked button's payload; an SMS shows numbers, never payloads, so there a
        typed payload is always words (a numbered reply becomes its payload later, in handle_turn)."""
        shown = {b.get("payload") for b in buttons or []} if channel == "web" else set()
        if text.startswith("/") and text not in shown:
            return text.lstrip("/").strip()
        return text

    @staticmethod
    def too_many(message: str, retry_after: int, **extra: Any) -> web.Response:
        return web.json_response({"error": message, **extra}, status=429,
                                 headers={"Retry-After": str(max(1, retry_after))})

    # --- keywords, answered before the NLU ------------------------------------------------------

    def _keyword_reply(self, hit: KeywordHit, who: str, language: str, channel: str,
                       confirmed: bool) -> tuple[str, bool]:
        """Carry out a keyword in the database; the reply, and whether Rasa's memory must be wiped."""
        city = self.settings["CITY_NAME"]
        with self.sessions.begin() as session:
            if hit.kind == "stop":
                set_opted_out(session, who, True)
            elif hit.kind == "start":
                if is_opted_out(session, who):
                    set_opted_out(session, who, False)
                else:
                    # Not opted out: nothing to undo. After a crisis reply, START was most likely meant for
                    # the hotline's 88788, so say how to reach it instead of "subscribed again".
                    kind = "start_hotline" if recent_crisis(session, who) else "start_already"
                    return keyword_text(kind, language, city, channel=channel), False
            elif hit.kind == "delete":
                programs, callback = open_work(session, who)
                if (programs or callback) and not confirmed:
                    self.pending_delete.put(who, time.monotonic() + PENDING_SECONDS)
                    return keyword_text("delete_confirm", language, city, channel=channel,
                                        items=open_items(language, programs, callback)), False
                delete_resident(session, who)
                return keyword_text("delete", language, city, channel=channel), True
            elif hit.kind == "status":
                held = held_data(session, who)
                phones = {p.id: p.phone for p in load_programs(session)} if held.referrals else {}
                return status_text(language, city, [
                    ReferralStatus(r["program"], r["reference"], r["status"], date.fromisoformat(r["date"]),
                                   phones.get(r["program_id"])) for r in held.referrals], channel=channel), False
            elif hit.kind == "mydata":
                held = held_data(session, who)
                return my_data_text(
                    language, city, contact_on_file=held.has_contact, channel=channel,
                    referrals=[f"{r['program']} ({status_label(language, r['status'])})" for r in held.referrals],
                    consents=[(scope, when) for scope, (granted, when) in held.consents.items() if granted]), False
        return keyword_text(hit.kind, language, city, channel=channel), False

    async def keyword(self, hit: KeywordHit, who: str, channel: str) -> str:
        language = (await self.remembered(who))[0] or hit.language
        # A DELETE (or yes) right after "Reply DELETE again to confirm" is the confirmation.
        confirmed = self._pending(self.pending_delete, who) and (hit.kind == "delete" or hit.only_if_opted_out)
        if confirmed:
            hit = KeywordHit("delete", hit.language)
        reply, forget = await self._db(self._keyword_reply, hit, who, language, channel, confirmed)
        if forget:
            self.awaiting_time.pop(who, None)
            await self._db(self.state.forget, who)
            try:  # the conversation itself goes too: every event of it, from Rasa's store
                await self._db(self.conversations.delete, who)
            except Exception as exc:
                log_event("forget_failed", error=type(exc).__name__)
        log_event("keyword", channel=channel, kind=hit.kind)
        return reply

    # --- SMS --------------------------------------------------------------------------------

    def _public_url(self, request: web.Request) -> str:
        if self.public_base:
            return self.public_base + request.path_qs
        return str(request.url)

    @staticmethod
    def _twiml(bodies: list[str]) -> web.Response:
        response = MessagingResponse()
        for body in bodies:
            response.message(body)
        return web.Response(text=str(response), content_type="application/xml")

    async def sms(self, request: web.Request) -> web.Response:
        if self.validator is None:
            log_event("sms_refused", why="no_auth_token")
            return web.Response(status=403, text="SMS is not configured: TWILIO_AUTH_TOKEN is not set.\n")
        if (request.content_length or 0) > MAX_FORM_BYTES:
            log_event("sms_refused", why="too_large")
            return web.Response(status=413, text="Request too large.\n")
        if request.content_type != TWILIO_FORM:
            # Twilio signs form-encoded webhooks only; a multipart body (a file part) cannot carry a valid
            # signature, so it is refused like one.
            return self._bad_signature(request, "not_form_encoded")
        try:
            form = await request.post()
        except web.HTTPRequestEntityTooLarge:
            log_event("sms_refused", why="too_large")
            return web.Response(status=413, text="Request too large.\n")
        except Exception:  # a malformed body is the caller's fault, never a 500
            log_event("sms_refused", why="bad_form")
            return web.Response(status=400, text="Expected a form-encoded Twilio webhook.\n")
        signature = request.headers.get("X-Twilio-Signature", "")
        if not signature or not all(isinstance(v, str) for v in form.values()):
            return self._bad_signature(request, "bad_signature")
        if not self.validator.validate(self._public_url(request), form, signature):
            return self._bad_signature(request, "bad_signature")
        sender_number = str(form.get("From") or "")
        if not sender_number:
            log_event("sms_refused", why="no_from")
            return web.Response(status=400, text="Missing From.\n")
        sid = str(form.get("MessageSid") or form.get("SmsSid") or "")
        deadline = self.deadline()
        language = "en"
        claimed = False  # only the delivery that claimed the MessageSid records its outcome
        try:
            async with asyncio.timeout_at(deadline + 0.1):
                if sid:
                    what, bodies = await self._claim(sid, deadline)
                    claimed = what == "new"
                    if what == "done":
                        log_event("sms_duplicate")  # Twilio retried a message we answered: the same answer
                        return self._twiml(bodies or [])
                    if what == "busy":
                        # The first delivery is still being processed: wait for its answer, do not redo it.
                        bodies = await self._wait_for_answer(sid)
                        log_event("sms_duplicate", waited=True)
                        return self._twiml(bodies)
                who = pseudonym(self.pseudonym_key, "sms", sender_number)
                language = (await self.remembered(who))[0] or guess_language(clean_text(str(form.get("Body") or "")))
                bodies, ok = await self._sms_message(form, who, sender_number, language, deadline)
        except (TimeoutError, SQLAlchemyError) as exc:
            log_event("turn", channel="sms", ok=False, error=type(exc).__name__)
            bodies, ok = [TROUBLE.get(language, TROUBLE["en"])], False
        if claimed:
            self._finish_later(sid, ok, bodies)
        return self._twiml(bodies)

    async def _claim(self, sid: str, deadline: float) -> tuple[str, list[str] | None]:
        wait = max(0.05, deadline - asyncio.get_running_loop().time() - 0.2)
        return await self._db(claim_message, self.sessions, sid, 2 * self.timeout + UNDO_GRACE_S + 5, wait)

    async def _wait_for_answer(self, sid: str) -> list[str]:
        """Until the turn's deadline cancels it: the first delivery's answer once it is done."""
        while True:
            await asyncio.sleep(0.25)
            state, bodies = await self._db(message_state, self.sessions, sid)
            if state == "done":
                return bodies or []
            if state == "failed":
                raise TimeoutError  # the first try failed: this retry also gets "trouble"; the next one retries

    def _finish_later(self, sid: str, ok: bool, bodies: list[str]) -> None:
        """Record the outcome of a message. A failed one is marked failed only after its undo ran, so
        a retry processes it again only once nothing of the first try is left."""
        async def finish():
            if not ok:
                await asyncio.sleep(UNDO_GRACE_S + 1)
            try:
                await self._db(finish_message, self.sessions, sid, ok, bodies)
            except Exception as exc:
                log_event("finish_failed", error=type(exc).__name__)
        task = asyncio.create_task(finish())
        self.undoing.add(task)
        task.add_done_callback(self.undoing.discard)

    async def _sms_message(self, form, who: str, sender_number: str, language: str,
                           deadline: float) -> tuple[list[str], bool]:
        """The TwiML bodies for one inbound text, and whether it was handled (not a failure)."""
        raw = str(form.get("Body") or "")
        text = clean_text(raw)
        try:
            media = int(str(form.get("NumMedia") or "0"))
        except ValueError:
            media = 0
        too_long = len(raw) > MAX_CHARS
        hit = match_keyword(text) if text and not too_long else None
        if who in self.pending_delete and not (hit and (hit.kind == "delete" or hit.only_if_opted_out)):
            self.pending_delete.pop(who, None)  # anything else keeps the referrals
        # The answer to "Would you like a person to call you?" after a crisis reply: "yes" is that answer,
        # not an opt-in, and it goes through even from an opted-out number (a call, not texts, follows).
        shown = (await self.remembered(who))[1]
        offered = bool(text) and person_offered(shown) and bool(match_choice(text, shown)
                                                               or accept_with_time(text, shown))
        if offered and hit and hit.only_if_opted_out:
            hit = None
        # The opt-out is read before anything is sent: no notice reaches a number that texted STOP.
        opted_out, followup = await self._db(self._sms_state, who, text if text and not hit and not too_long
                                             else None)
        if hit and (hit.applies(opted_out) or (hit.only_if_opted_out and who in self.pending_delete)):
            return shape([await self.keyword(hit, who, "sms")], language), True
        if opted_out and not (text and not too_long and is_crisis(text)) and not offered:
            # Nothing is sent to a number that said STOP, until START; the message is not processed.
            # A crisis is the one exception: someone in danger who writes to us gets 988 and 911.
            log_event("sms_suppressed", why="opted_out")
            if shown:  # an offer of a person holds for the one message after it
                await self._db(self.state.put, who, language, [])
            return [], True
        notices = NOTICES[language]
        if not self.by_number.hit(who):
            # Twilio gets 200 (a 429 would make it retry a real message): one "slow down" text a window.
            log_event("sms_limited", first=self.by_number.first_over(who))
            return ([notices["slow_down"]] if self.by_number.first_over(who) else []), True
        if too_long:
            log_event("sms_notice", why="too_long")
            return [notices["too_long"]], True
        text = self.words_unless_shown(text, "sms")
        if not text:
            log_event("sms_notice", why="media_only" if media else "empty")
            return [notices["media_only" if media else "empty"]], True
        handed = await self.live.inbound(who, text, "sms", language, sender_number)
        if handed is not None:  # a person has the conversation: the bot stays quiet
            return shape(handed.texts, language) if handed.texts else [], True
        if followup and not opted_out:
            return shape([followup], language), True
        noted = await self.preferred_time(who, text, language)
        if noted:
            return shape([noted], language), True
        threaded = await self.live.case_reply(who, text)  # answers a caseworker's text: into the case
        if threaded:
            return shape([threaded], language), True
        reply = await self.turn(who, text, "sms", language, deadline=deadline)
        if reply.failed:
            return [m["text"] for m in reply.messages], False
        if reply.referral_created or reply.extra.get("callback_requested"):
            # The number is kept only now, sealed, because the resident asked to be contacted or called.
            try:
                await self._db(self._seal_contact, who, "sms", sender_number)
            except asyncio.CancelledError:
                self.undo_later(who, reply.extra["turn"], reply.extra["started"], reply.extra["before"])
                raise
        await self.live.after_turn(who, "sms", reply, sender_number)
        rendered = render_plain(reply.messages, reply.language, previous=shown)
        return shape(rendered, reply.language), True

    def _bad_signature(self, request: web.Request, why: str) -> web.Response:
        """403; 429 once an address keeps failing (someone probing the webhook, never Twilio itself)."""
        address = self.client_address(request)
        if not self.by_address.hit("sms:" + address):
            log_event("sms_refused", why="rate_limited")
            return web.Response(status=429, text="Too many requests.\n",
                                headers={"Retry-After": str(self.by_address.retry_after("sms:" + address))})
        log_event("sms_refused", why=why)
        return web.Response(status=403, text="Invalid Twilio signature.\n")

    # --- web chat -----------------------------------------------------------------------------

    async def _json_body(self, request: web.Request) -> dict[str, Any] | web.Response:
        if (request.content_length or 0) > MAX_JSON_BYTES:
            return web.json_response({"error": "Request too large."}, status=413)
        try:
            raw = await request.content.read(MAX_JSON_BYTES + 1)
            if len(raw) > MAX_JSON_BYTES:
                return web.json_response({"error": "Request too large."}, status=413)
            body = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):  # RecursionError: "[[[[...]]]]"
            return web.json_response({"error": "Expected a JSON body."}, status=400)
        if not isinstance(body, dict):
            return web.json_response({"error": "Expected a JSON object."}, status=400)
        return body

    async def chat(self, request: web.Request) -> web.Response:
        address = self.client_address(request)
        if not self.by_address.hit(address):
            log_event("chat_limited", per="address")
            return self.too_many(NOTICES["en"]["slow_down"], self.by_address.retry_after(address))
        body = await self._json_body(request)
        if isinstance(body, web.Response):
            return body
        session = body.get("session")
        if not self.valid_session(session):
            # A session id is the gateway's to issue: one the client made up starts a new conversation,
            # and each address may start only so many.
            if not self.new_sessions.hit(address):
                log_event("chat_limited", per="new_session")
                return self.too_many(NOTICES["en"]["slow_down"], self.new_sessions.retry_after(address))
            session = self.issue_session()
        message = body.get("message")
        if not isinstance(message, str):
            return web.json_response({"error": "Expected 'message' as text.", "session": session}, status=400)
        who = pseudonym(self.pseudonym_key, "web", session)
        text = clean_text(message)
        remembered_language, buttons = await self.remembered(who)
        language = remembered_language or guess_language(text)
        if len(message) > MAX_CHARS:
            return web.json_response({"error": NOTICES[language]["too_long"], "session": session}, status=413)
        if not self.by_session.hit(session):
            log_event("chat_limited", per="session")
            return self.too_many(NOTICES[language]["slow_down"], self.by_session.retry_after(session),
                                 session=session)
        if not text:
            return web.json_response({"session": session, "language": language,
                                      "messages": [{"text": NOTICES[language]["empty"], "buttons": []}]})
        hit = match_keyword(text)
        if who in self.pending_delete and not (hit and (hit.kind == "delete" or hit.only_if_opted_out)):
            self.pending_delete.pop(who, None)
        if hit and hit.only_if_opted_out and who in self.pending_delete:
            hit = KeywordHit("delete", hit.language)  # "yes" confirms the DELETE just asked about
        if hit and hit.kind in ("mydata", "delete", "help", "status"):
            reply_text = await self.keyword(hit, who, "web")
            return web.json_response({"session": session, "language": language if remembered_language else hit.language,
                                      "messages": [{"text": reply_text, "buttons": []}], "ask_contact": False,
                                      "forgotten": hit.kind == "delete" and who not in self.pending_delete})
        handed = await self.live.inbound(who, text, "web", language)
        if handed is not None:  # a person has the conversation: the bot stays quiet
            return web.json_response({"session": session, "language": language, "live": handed.open,
                                      "ask_contact": handed.ask_contact,
                                      "messages": [{"text": t, "buttons": []} for t in handed.texts]})
        noted = await self.preferred_time(who, text, language)
        if noted:
            return web.json_response({"session": session, "language": language, "ask_contact": False,
                                      "messages": [{"text": noted, "buttons": []}]})
        kind, contact = find_contact(text)
        if kind and await self._awaiting_contact(who):
            # Typed in the chat box instead of the contact field: it goes to the vault all the same, and
            # the transcript Rasa keeps says only that a contact was given.
            reply = await self._contact_given(who, kind, contact, language)
        else:
            text = self.words_unless_shown(text, "web", buttons)
            if not text:
                return web.json_response({"session": session, "language": language,
                                          "messages": [{"text": NOTICES[language]["empty"], "buttons": []}]})
            reply = await self.turn(who, text, "web", language)
            await self.live.after_turn(who, "web", reply)
        status = 200 if not reply.failed else 503
        return web.json_response({"session": session, "language": reply.language, "messages": reply.messages,
                                  "live": reply.extra.get("live", False),
                                  "ask_contact": reply.ask_contact or reply.extra.get("callback_requested", False)},
                                 status=status)

    async def _awaiting_contact(self, who: str) -> bool:
        """Whether this conversation is at the web contact step (asked of Rasa: any replica can answer)."""
        try:
            tracker = await self.rasa.tracker(who)
        except RasaUnavailable:
            return False
        return (tracker.get("slots") or {}).get("requested_slot") == "contact_status"

    async def _contact_given(self, who: str, kind: str, contact: str, language: str) -> Reply:
        try:
            await self._db(self._seal_contact, who, kind, contact)
        except SQLAlchemyError as exc:
            # Nothing was sealed and nothing goes to Rasa: the resident is asked to try again (503), and
            # the contact step stays open for that try.
            log_event("contact_failed", channel="web", error=type(exc).__name__)
            return Reply([{"text": TROUBLE.get(language, TROUBLE["en"]), "buttons": []}], language, failed=True,
                         ask_contact=True)
        log_event("contact_saved", channel="web", kind=kind)
        return await self.turn(who, CONTACT_GIVEN, "web", language)

    async def chat_contact(self, request: web.Request) -> web.Response:
        address = self.client_address(request)
        if not self.by_address.hit(address):
            log_event("chat_limited", per="address")
            return self.too_many(NOTICES["en"]["slow_down"], self.by_address.retry_after(address))
        body = await self._json_body(request)
        if isinstance(body, web.Response):
            return body
        session, contact = body.get("session"), body.get("contact")
        if not self.valid_session(session) or not isinstance(contact, str):
            return web.json_response({"error": "Expected 'session' and 'contact'."}, status=400)
        who = pseudonym(self.pseudonym_key, "web", session)
        lang = (await self.remembered(who))[0] or "en"
        notices = NOTICES[lang]
        kind, value = parse_contact(contact)
        if kind is None:
            return web.json_response({"error": notices["contact_invalid"]}, status=422)
        if await self._awaiting_contact(who):
            # The contact step of a referral: seal it, then let the conversation confirm the referral.
            reply = await self._contact_given(who, kind, value, lang)
            return web.json_response({"ok": not reply.failed, "session": session, "language": reply.language,
                                      "messages": reply.messages, "ask_contact": reply.ask_contact},
                                     status=200 if not reply.failed else 503)
        purpose = await self._db(self._contact_purpose, who)
        if purpose is None:
            return web.json_response({"error": notices["contact_no_referral"]}, status=409)
        await self._db(self._seal_contact, who, kind, value)  # a new contact for an existing referral
        log_event("contact_saved", channel="web", kind=kind)
        return web.json_response({"ok": True, "message": notices["contact_saved" if purpose == "referral"
                                                                  else "callback_contact_saved"]})

    # --- pages --------------------------------------------------------------------------------

    async def index(self, _request: web.Request) -> web.StreamResponse:
        return web.FileResponse(STATIC / "index.html", headers=SECURITY_HEADERS)

    async def _probe(self, url: str) -> bool:
        try:
            async with self.http.get(url, timeout=aiohttp.ClientTimeout(total=HEALTH_TIMEOUT_S)) as resp:
                return resp.status == 200
        except (aiohttp.ClientError, TimeoutError, OSError):
            return False

    async def _probe_db(self, fn) -> bool:
        try:
            await asyncio.wait_for(self._db(fn), HEALTH_TIMEOUT_S)
            return True
        except Exception:
            return False

    def _ping_database(self) -> None:
        with self.engine.connect() as conn:
            conn.execute(text_sql("SELECT 1"))

    async def health(self, _request: web.Request) -> web.Response:
        """Each part a resident's turn needs; 503 when one is down (a load balancer then sends turns
        to another gateway). Names and states only: no URL, no error text."""
        checks = {
            "rasa": self._probe(f"{self.rasa_url}/"),
            "actions": self._probe(f"{self.actions_url}/health"),
            "database": self._probe_db(self._ping_database),
            "conversations": self._probe_db(self.conversations.ping),
        }
        if isinstance(self.state, RedisStateStore):
            checks["redis"] = self._probe_db(self.state.ping)
        results = dict(zip(checks, await asyncio.gather(*checks.values())))
        body = {"gateway": "ok", **{k: "ok" if ok else "unavailable" for k, ok in results.items()},
                "sms": "enabled" if self.validator else "disabled (no TWILIO_AUTH_TOKEN)"}
        healthy = all(results.values())
        body["status"] = "ok" if healthy else "unavailable"
        return web.json_response(body, status=200 if healthy else 503)


# What Rasa hears after the gateway sealed a contact: the form checks the vault, never this word alone.
CONTACT_GIVEN = '/inform{"choice":"contact_given"}'
_PHONE_IN_TEXT = re.compile(r"(?<![\d])(?:\+?1[\s.-]?)?\(?\d{3}\)?[\s.-]?\d{3}[\s.-]?\d{4}(?![\d])")
_EMAIL_IN_TEXT = re.compile(r"[^@\s<>(),;:]{1,64}@[^@\s<>(),;:]{1,190}\.[A-Za-z]{2,24}")


def find_contact(text: str) -> tuple[str | None, str]:
    """A phone number or email in what a resident typed ("my cell is 555 010 7788"), as parse_contact gives it."""
    kind, value = parse_contact(text)
    if kind:
        return kind, value
    for pattern in (_EMAIL_IN_TEXT, _PHONE_IN_TEXT):
        m = pattern.search(text)
        if m:
            kind, value = parse_contact(m.group().rstrip("."))
            if kind:
                return kind, value
    return None, ""


def person_offered(buttons: list[dict[str, Any]] | None) -> bool:
    """Whether the last choices were the offer of a person after a crisis reply ("Yes, call me" / "No")."""
    from bot.render import first_word

    return any(b.get("payload") == "/human" and first_word(str(b.get("title", ""))) in ("yes", "si")
               for b in buttons or [])


def open_items(language: str, programs: list[str], callback: bool) -> str:
    """'1 open referral(s): Riverbend Works and a call-back request', for the DELETE confirmation."""
    from bot.keywords import KEYWORD_TEXTS

    texts = KEYWORD_TEXTS.get(language, KEYWORD_TEXTS["en"])
    parts = []
    if programs:
        names = ", ".join(programs[:2]) + (f" (+{len(programs) - 2})" if len(programs) > 2 else "")
        parts.append(texts["open_referrals"].format(n=len(programs), names=names))
    if callback:
        parts.append(texts["open_callback"])
    return (" y " if language == "es" else " and ").join(parts)


def parse_contact(text: str) -> tuple[str | None, str]:
    """('phone', E.164) or ('email', address) or (None, '') for what a resident typed in the widget."""
    text = text.strip()
    if EMAIL_RE.match(text):
        return "email", text
    digits = re.sub(r"\D", "", text)
    if re.fullmatch(r"[\d\s().+-]{10,20}", text) and (len(digits) == 10 or (len(digits) == 11 and digits[0] == "1")):
        return "phone", "+1" + digits[-10:]
    return None, ""


SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'self'; "
                               "base-uri 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


@web.middleware
async def errors_and_headers(request: web.Request, handler):
    """No resident ever sees a 500 page or a traceback; every fault is logged without personal data."""
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        return exc
    except Exception as exc:  # the gateway keeps serving whatever one request did
        if isinstance(exc, OSError) and request.path.startswith("/static/"):
            # aiohttp's static handler asks the file system about any name (found by fuzzing: a name too
            # long for it raised OSError); whatever it is, there is no such file.
            return web.Response(status=404, text="404: Not Found")
        # Where it failed (file and line), never the exception's message, which may quote the resident.
        # Our own frames first (the library's innermost ones say little about which step failed).
        frames = traceback.extract_tb(exc.__traceback__)
        ours = [f for f in frames if f.filename.startswith(str(ROOT))] or frames
        where = [f"{f.filename.rsplit('/', 1)[-1]}:{f.lineno}" for f in ours]
        logger.error(json.dumps({"event": "gateway_error", "path": request.path, "error": type(exc).__name__,
                                 "where": where[-4:]}))
        if request.path == "/sms":
            return Gateway._twiml([TROUBLE["en"]])
        return web.json_response({"error": "Something went wrong. Please try again."}, status=500)
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def make_app(settings: Settings, **kwargs: Any) -> web.Application:
    gateway = Gateway(settings, **kwargs)
    app = web.Application(middlewares=[errors_and_headers], client_max_size=MAX_FORM_BYTES)
    app["gateway"] = gateway
    app.on_startup.append(gateway.startup)
    app.on_cleanup.append(gateway.cleanup)
    app.on_startup.append(gateway.live.start)
    app.on_cleanup.insert(0, gateway.live.stop)
    app.router.add_post("/sms", gateway.sms)
    app.router.add_get("/", gateway.index)
    app.router.add_post("/chat", gateway.chat)
    app.router.add_post("/chat/contact", gateway.chat_contact)
    app.router.add_get("/chat/live", gateway.live.poll)
    app.router.add_get("/healthz", gateway.health)
    if STATIC.exists():
        app.router.add_static("/static/", STATIC, follow_symlinks=False)
    return app
