"""Texts the city sends first (follow-ups, caseworker messages), through Twilio's Messages API.

Every send goes through `Outbound.send`, which checks, in this order and at the moment of sending:
the number has not opted out (STOP), the resident has the consent the purpose needs, and a number is
in the contact vault. Only then is the number decrypted, for this one request.

Where there is no Twilio account (development) the text is not sent: a log line records that a text
would have gone out, without the number or the text. Tests point TWILIO_API_BASE at a local fake of
the Messages API and drive it with the real twilio client.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session, sessionmaker
from twilio.base.exceptions import TwilioException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from referrals.config import Settings
from referrals.models import ContactEntry
from referrals.privacy import has_consent, is_opted_out
from referrals.vault import KeyMissing, Vault, pseudonym as make_pseudonym

logger = logging.getLogger("referrals.outbound")

TWILIO_API = "https://api.twilio.com"
# live: the resident asked for a person in this thread; the caller checks the conversation is open.
PURPOSE_CONSENT: dict[str, str | None] = {"followup": "followup", "caseworker": "referral", "live": None}


class _RedirectingHttpClient(TwilioHttpClient):
    """Twilio's own HTTP client, sending to another base URL (a local fake in tests)."""

    def __init__(self, base: str, **kwargs: Any):
        super().__init__(**kwargs)
        self._base = base.rstrip("/")

    def request(self, method: str, url: str, *args: Any, **kwargs: Any):
        if url.startswith(TWILIO_API):
            url = self._base + url[len(TWILIO_API):]
        return super().request(method, url, *args, **kwargs)


@dataclass(frozen=True)
class SendResult:
    status: str  # sent | logged | opted_out | no_consent | no_contact | failed
    sid: str | None = None

    @property
    def delivered(self) -> bool:
        return self.status in ("sent", "logged")


class Outbound:
    def __init__(self, settings: Settings, sessions: sessionmaker[Session]):
        self.sessions = sessions
        self.vault = Vault.from_settings(settings)
        self.pseudonym_key = settings["PSEUDONYM_KEY"]
        self.from_number = settings["TWILIO_FROM_NUMBER"]
        sid, token = settings["TWILIO_ACCOUNT_SID"], settings["TWILIO_AUTH_TOKEN"]
        self.client: Client | None = None
        if sid and token and self.from_number:
            base = settings["TWILIO_API_BASE"]
            http = _RedirectingHttpClient(base, timeout=10) if base else TwilioHttpClient(timeout=10)
            self.client = Client(sid, token, http_client=http)

    @property
    def mode(self) -> str:
        return "twilio" if self.client else "log"

    def send(self, pseudonym: str, body: str, purpose: str) -> SendResult:
        """Send `body` to the resident behind `pseudonym`, if and only if they may be texted for `purpose`."""
        if purpose not in PURPOSE_CONSENT:
            raise ValueError(f"unknown purpose {purpose!r}")
        scope = PURPOSE_CONSENT[purpose]  # None: the resident asked for this text (a live answer)
        with self.sessions() as session:
            if is_opted_out(session, pseudonym):
                return self._result("opted_out", purpose)
            if scope and not has_consent(session, pseudonym, scope):
                return self._result("no_consent", purpose)
            entry = session.get(ContactEntry, pseudonym)
            if entry is None or entry.kind not in ("sms", "phone"):
                return self._result("no_contact", purpose)
            try:
                number = self.vault.open(entry.ciphertext)
            except KeyMissing:
                logger.error(json.dumps({"event": "outbound_failed", "purpose": purpose, "error": "vault_key"}))
                return SendResult("failed")
            # A resident who left the number on the web and later texted STOP from it is opted out too.
            if is_opted_out(session, make_pseudonym(self.pseudonym_key, "sms", number)):
                return self._result("opted_out", purpose)
        if self.client is None:
            return self._result("logged", purpose)
        try:
            message = self.client.messages.create(to=number, from_=self.from_number, body=body)
        except (TwilioException, OSError) as exc:  # OSError: requests' connection errors (Twilio unreachable)
            logger.error(json.dumps({"event": "outbound_failed", "purpose": purpose, "error": type(exc).__name__,
                                     "code": getattr(exc, "code", None)}))
            return SendResult("failed")
        return self._result("sent", purpose, message.sid)

    def _result(self, status: str, purpose: str, sid: str | None = None) -> SendResult:
        logger.info(json.dumps({"event": "outbound", "purpose": purpose, "status": status}))
        return SendResult(status, sid)
