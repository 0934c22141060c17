"""The resident gateway: the one public entry point (aiohttp).

    POST /sms           Twilio's messaging webhook: signature checked, reply as TwiML
    GET  /              the web chat page; assets under /static/
    POST /chat          the widget's endpoint (JSON)
    POST /chat/contact  the widget sends how a caseworker can reach the resident, after a referral
    GET  /healthz       liveness, and whether Rasa answers

Rasa and the action server listen on loopback only; nothing else reaches them. What the gateway does
to every message before Rasa sees it: the sender becomes a keyed pseudonym (referrals/vault.py), crisis
words are caught (bot/conversation.py), a numbered reply becomes the payload of the choice it names.
What it does to every reply: buttons become numbered choices on SMS and stay buttons on the web, and
SMS bodies are shaped to fit a basic phone (bot/sms.py).

Logs are structured (one JSON object a line) and never hold a phone number, a pseudonym or message text.
"""

from __future__ import annotations

import asyncio
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
from twilio.request_validator import RequestValidator
from twilio.twiml.messaging_response import MessagingResponse

from bot.conversation import TROUBLE, accept_with_time, detector, handle_turn
from bot.keywords import (KeywordHit, ReferralStatus, keyword_text, match_keyword, my_data_text, status_label,
                          status_text)
from bot.rasa_client import RasaClient, RasaUnavailable
from bot.redact import redact
from bot.render import match_choice, render_plain
from bot.safety import is_crisis
from bot.sms import MAX_CHARS, shape
from referrals.config import ROOT, Settings
from referrals.callbacks import open_request, parse_preferred_time, set_preferred_time
from referrals.db import (first_delivery, has_open_referral, load_programs, make_engine, make_sessionmaker,
                          save_contact)
from referrals.followups import TEXTS as FOLLOWUP_TEXTS, parse_answer, pending_case, record_answer
from referrals.privacy import (delete_resident, flag_crisis, held_data, is_opted_out, open_work, recent_crisis,
                               set_opted_out)
from referrals.vault import Vault, pseudonym

logger = logging.getLogger("bot.gateway")

STATIC = Path(__file__).resolve().parent / "static"
MAX_FORM_BYTES = 64 * 1024  # Twilio's form for one message is a few kB
MAX_JSON_BYTES = 16 * 1024
SESSION_RE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
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
    """A small bounded map: last choices and language per conversation, kept in this process only."""

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


class Gateway:
    def __init__(self, settings: Settings, rasa_url: str | None = None, rasa_token: str | None = None,
                 database_url: str | None = None):
        self.settings = settings
        self.rasa_url = rasa_url or settings["RASA_URL"]
        self.rasa_token = rasa_token if rasa_token is not None else settings["RASA_TOKEN"]
        self.timeout = float(settings["RASA_TIMEOUT"])
        self.pseudonym_key = settings["PSEUDONYM_KEY"]
        self.vault = Vault(settings["VAULT_KEY"])
        pseudonym(self.pseudonym_key, "sms", "+10000000000")  # fail at start, not on the first message
        self.engine = make_engine(database_url or settings.database_url)
        self.sessions = make_sessionmaker(self.engine)
        token = settings["TWILIO_AUTH_TOKEN"]
        self.validator = RequestValidator(token) if token else None
        self.public_base = settings["PUBLIC_BASE_URL"].rstrip("/")
        self.buttons = LRU()
        self.languages = LRU()
        # Per conversation, for the next message only: a DELETE waiting for its confirmation, and a
        # callback request that may take a preferred time ("after 3pm"). Both expire (monotonic deadline).
        self.pending_delete = LRU()
        self.awaiting_time = LRU()
        self.http: aiohttp.ClientSession | None = None
        self.rasa: RasaClient | None = None

    # --- lifecycle --------------------------------------------------------------------------

    async def startup(self, _app: web.Application) -> None:
        connector = aiohttp.TCPConnector(limit=100, keepalive_timeout=30)
        self.http = aiohttp.ClientSession(connector=connector)
        self.rasa = RasaClient(self.http, self.rasa_url, self.rasa_token, timeout=self.timeout)
        if not self.validator:
            logger.warning(json.dumps({"event": "sms_disabled", "why": "TWILIO_AUTH_TOKEN is not set; "
                                       "POST /sms refuses every request"}))

    async def cleanup(self, _app: web.Application) -> None:
        if self.http:
            await self.http.close()
        self.engine.dispose()

    # --- one turn, any channel ----------------------------------------------------------------

    async def turn(self, sender: str, text: str, channel: str, language_hint: str | None = None) -> Reply:
        """Send a resident's text through Rasa; remember the choices offered, for the next turn."""
        language = self.languages.get(sender) or language_hint or guess_language(text)
        started = time.monotonic()
        buttons = self.buttons.get(sender)
        # Phone numbers, emails, SSNs, card and account numbers and street addresses become typed
        # placeholders here, so they never reach Rasa's tracker (the NLU is trained on the placeholders).
        redaction = redact(text)
        turn = await handle_turn(self.rasa, sender, redaction.text, channel, language, known_buttons=buttons)
        visible, created, callback = [], False, False
        for m in turn.messages:
            custom = m.get("custom")
            if isinstance(custom, dict):
                created = created or bool(custom.get("referral_created"))
                callback = callback or bool(custom.get("callback_requested"))
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
                self.languages.put(sender, language)
            last = next((m["buttons"] for m in reversed(visible) if m["buttons"]), [])
            self.buttons.put(sender, last)
        if callback:
            self.awaiting_time.put(sender, time.monotonic() + PENDING_SECONDS)
        log_event("turn", channel=channel, ok=not turn.failed, crisis=crisis, referral=created, callback=callback,
                  redacted=sum(redaction.counts.values()), ms=round((time.monotonic() - started) * 1000, 1))
        return Reply(visible, language, referral_created=created, failed=turn.failed, crisis=crisis,
                     extra={"callback_requested": callback})

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
        language = self.languages.get(who) or hit.language
        # A DELETE (or yes) right after "Reply DELETE again to confirm" is the confirmation.
        confirmed = self._pending(self.pending_delete, who) and (hit.kind == "delete" or hit.only_if_opted_out)
        if confirmed:
            hit = KeywordHit("delete", hit.language)
        reply, forget = await self._db(self._keyword_reply, hit, who, language, channel, confirmed)
        if forget:
            self.buttons.pop(who, None)
            self.languages.pop(who, None)
            self.awaiting_time.pop(who, None)
            try:  # the conversation itself goes too: Rasa's tracker is replaced by an empty one
                await self.rasa.forget(who)
            except RasaUnavailable as exc:
                log_event("forget_failed", error=str(exc))
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
        try:
            form = await request.post()
        except web.HTTPRequestEntityTooLarge:
            log_event("sms_refused", why="too_large")
            return web.Response(status=413, text="Request too large.\n")
        except Exception:  # a malformed body is the caller's fault, never a 500
            log_event("sms_refused", why="bad_form")
            return web.Response(status=400, text="Expected a form-encoded Twilio webhook.\n")
        signature = request.headers.get("X-Twilio-Signature", "")
        if not signature or not self.validator.validate(self._public_url(request), form, signature):
            log_event("sms_refused", why="bad_signature")
            return web.Response(status=403, text="Invalid Twilio signature.\n")
        sender_number = str(form.get("From") or "")
        if not sender_number:
            log_event("sms_refused", why="no_from")
            return web.Response(status=400, text="Missing From.\n")
        sid = str(form.get("MessageSid") or form.get("SmsSid") or "")
        if sid and not await self._db(first_delivery, self.sessions, sid):
            log_event("sms_duplicate")  # Twilio retried a message we already answered
            return self._twiml([])
        who = pseudonym(self.pseudonym_key, "sms", sender_number)
        raw = str(form.get("Body") or "")
        text = clean_text(raw)
        try:
            media = int(str(form.get("NumMedia") or "0"))
        except ValueError:
            media = 0
        language = self.languages.get(who) or guess_language(text)
        notices = NOTICES[language]
        if len(raw) > MAX_CHARS:
            log_event("sms_notice", why="too_long")
            return self._twiml([notices["too_long"]])
        if not text:
            log_event("sms_notice", why="media_only" if media else "empty")
            return self._twiml([notices["media_only" if media else "empty"]])
        hit = match_keyword(text)
        if who in self.pending_delete and not (hit and (hit.kind == "delete" or hit.only_if_opted_out)):
            self.pending_delete.pop(who, None)  # anything else keeps the referrals
        # The answer to "Would you like a person to call you?" after a crisis reply: "yes" is that answer,
        # not an opt-in, and it goes through even from an opted-out number (a call, not texts, follows).
        shown = self.buttons.get(who)
        offered = person_offered(shown) and bool(match_choice(text, shown) or accept_with_time(text, shown))
        if offered and hit and hit.only_if_opted_out:
            hit = None
        opted_out, followup = await self._db(self._sms_state, who, None if hit else text)
        if hit and (hit.applies(opted_out) or (hit.only_if_opted_out and who in self.pending_delete)):
            return self._twiml(shape([await self.keyword(hit, who, "sms")], language))
        if opted_out and not is_crisis(text) and not offered:
            # Nothing is sent to a number that said STOP, until START; the message is not processed.
            # A crisis is the one exception: someone in danger who writes to us gets 988 and 911.
            log_event("sms_suppressed", why="opted_out")
            self.buttons.pop(who, None)  # an offer of a person holds for the one message after it
            return self._twiml([])
        if followup and not opted_out:
            return self._twiml(shape([followup], language))
        noted = await self.preferred_time(who, text, language)
        if noted:
            return self._twiml(shape([noted], language))
        shown_before = self.buttons.get(who)
        reply = await self.turn(who, text, "sms", language)
        if reply.referral_created or reply.extra.get("callback_requested"):
            # The number is kept only now, sealed, because the resident asked to be contacted or called.
            await self._db(self._seal_contact, who, "sms", sender_number)
        rendered = render_plain(reply.messages, reply.language, previous=shown_before)
        return self._twiml(shape(rendered, reply.language))

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
        body = await self._json_body(request)
        if isinstance(body, web.Response):
            return body
        session = body.get("session")
        if not isinstance(session, str) or not SESSION_RE.match(session):
            session = secrets.token_urlsafe(24)
        message = body.get("message")
        if not isinstance(message, str):
            return web.json_response({"error": "Expected 'message' as text.", "session": session}, status=400)
        who = pseudonym(self.pseudonym_key, "web", session)
        text = clean_text(message)
        language = self.languages.get(who) or guess_language(text)
        if len(message) > MAX_CHARS:
            return web.json_response({"error": NOTICES[language]["too_long"], "session": session}, status=413)
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
            return web.json_response({"session": session, "language": self.languages.get(who) or hit.language,
                                      "messages": [{"text": reply_text, "buttons": []}], "ask_contact": False,
                                      "forgotten": hit.kind == "delete" and who not in self.pending_delete})
        noted = await self.preferred_time(who, text, language)
        if noted:
            return web.json_response({"session": session, "language": language, "ask_contact": False,
                                                     "messages": [{"text": noted, "buttons": []}]})
        if text.startswith("/") and text not in {b.get("payload") for b in self.buttons.get(who) or []}:
            text = text.lstrip("/")  # only the choices on screen are payloads; anything else is words
        reply = await self.turn(who, text, "web", language)
        status = 200 if not reply.failed else 503
        return web.json_response({"session": session, "language": reply.language, "messages": reply.messages,
                                  "ask_contact": reply.referral_created or reply.extra.get("callback_requested", False)},
                                 status=status)

    async def chat_contact(self, request: web.Request) -> web.Response:
        body = await self._json_body(request)
        if isinstance(body, web.Response):
            return body
        session, contact = body.get("session"), body.get("contact")
        if not isinstance(session, str) or not SESSION_RE.match(session) or not isinstance(contact, str):
            return web.json_response({"error": "Expected 'session' and 'contact'."}, status=400)
        who = pseudonym(self.pseudonym_key, "web", session)
        notices = NOTICES[self.languages.get(who) or "en"]
        kind, value = parse_contact(contact)
        if kind is None:
            return web.json_response({"error": notices["contact_invalid"]}, status=422)
        purpose = await self._db(self._contact_purpose, who)
        if purpose is None:
            return web.json_response({"error": notices["contact_no_referral"]}, status=409)
        await self._db(self._seal_contact, who, kind, value)
        log_event("contact_saved", channel="web", kind=kind)
        return web.json_response({"ok": True, "message": notices["contact_saved" if purpose == "referral"
                                                                  else "callback_contact_saved"]})

    # --- pages --------------------------------------------------------------------------------

    async def index(self, _request: web.Request) -> web.StreamResponse:
        return web.FileResponse(STATIC / "index.html", headers=SECURITY_HEADERS)

    async def health(self, _request: web.Request) -> web.Response:
        try:
            async with self.http.get(f"{self.rasa_url}/", timeout=aiohttp.ClientTimeout(total=1)) as resp:
                rasa_ok = resp.status == 200
        except (aiohttp.ClientError, TimeoutError):
            rasa_ok = False
        return web.json_response({"gateway": "ok", "rasa": "ok" if rasa_ok else "unavailable",
                                  "sms": "enabled" if self.validator else "disabled (no TWILIO_AUTH_TOKEN)"})


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
        # Where it failed (file and line), never the exception's message, which may quote the resident.
        where = [f"{f.filename.rsplit('/', 1)[-1]}:{f.lineno}" for f in traceback.extract_tb(exc.__traceback__)]
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
    app.router.add_post("/sms", gateway.sms)
    app.router.add_get("/", gateway.index)
    app.router.add_post("/chat", gateway.chat)
    app.router.add_post("/chat/contact", gateway.chat_contact)
    app.router.add_get("/healthz", gateway.health)
    if STATIC.exists():
        app.router.add_static("/static/", STATIC, follow_symlinks=False)
    return app
