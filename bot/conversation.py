"""The gateway's handling of one resident turn, shared by every channel (terminal, SMS, web).

Order matters: crisis words are checked first and sent to Rasa as the `/crisis` intent, so the crisis
reply never depends on the model and the disclosure text is never stored in Rasa's tracker. Then a
numbered reply is mapped back to the payload of the button it names. Only then does free text go to
the NLU.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

from functools import lru_cache

from bot.rasa_client import RasaClient, RasaUnavailable
from bot.render import YES, match_choice
from bot.safety import is_crisis
from referrals.callbacks import parse_preferred_time
from referrals.config import ROOT
from referrals.language import LanguageDetector, fold

logger = logging.getLogger(__name__)

MAX_TEXT = 1600

TROUBLE = {
    "en": "Sorry, we're having trouble right now. Please try again in a few minutes. "
          "If you are in danger, call 911. For crisis support, call or text 988.",
    "es": "Perdon, tenemos un problema tecnico. Intente de nuevo en unos minutos. "
          "Si esta en peligro, llame al 911. Para apoyo en crisis, llame o texto al 988.",
}


_ZIP_WITH_O = re.compile(r"[0-9oO]{5}(?:-[0-9oO]{4})?")


def zip_typo(text: str) -> str:
    """"471O4" (a letter O for a zero, common on phone keyboards) is the ZIP 47104; other text is unchanged."""
    if _ZIP_WITH_O.fullmatch(text) and not text.isdigit() and sum(c.isdigit() for c in text) >= 3:
        return text.replace("o", "0").replace("O", "0")
    return text


def accept_with_time(text: str, buttons: list[dict[str, Any]]) -> str | None:
    """"yes, tomorrow morning" / "sí, después de las 3" to the offer of a person after a crisis reply: the
    accept payload, carrying the time as a label from a closed vocabulary (never the words)."""
    accept = next((b.get("payload") for b in buttons or [] if b.get("payload") == "/human"), None)
    if not accept:
        return None
    words = re.sub(r"[^\w\s:]", " ", fold(text)).split()
    if not words or words[0] not in YES:
        return None
    preferred = parse_preferred_time(text)
    return accept + (f'{{"choice":"{preferred.label("en")}"}}' if preferred else "")


@lru_cache(maxsize=1)
def detector() -> LanguageDetector:
    return LanguageDetector.from_nlu_dir(ROOT / "data" / "nlu")


@dataclass
class Turn:
    messages: list[dict[str, Any]]
    crisis: bool = False
    failed: bool = False


async def handle_turn(rasa: RasaClient, sender: str, text: str, channel: str, language_hint: str = "en",
                      known_buttons: list[dict[str, Any]] | None = None,
                      metadata: dict[str, Any] | None = None) -> Turn:
    """Send one resident message through Rasa and return the bot's messages.

    `known_buttons` are the choices the caller showed last (the gateway remembers them); without them
    they are read from Rasa's tracker, which costs a request.
    """
    text = (text or "").replace("\x00", "").strip()[:MAX_TEXT]
    crisis = is_crisis(text)
    metadata = {**(metadata or {}), "channel": channel}
    try:
        if crisis:
            message = "/crisis"
            # The text stays here; the language it was written in goes along so the reply matches.
            metadata["language"] = detector().detect(text)
        else:
            message = text = zip_typo(text)
            if text and not text.startswith("/") and len(text) <= 40:
                buttons = known_buttons if known_buttons is not None else await rasa.last_buttons(sender)
                payload = match_choice(text, buttons) or accept_with_time(text, buttons)
                if payload:
                    message = payload
        messages = await rasa.send(sender, message, metadata)
        if not messages:
            # Rasa answers 200 with nothing when an action failed (e.g. the action server is down):
            # the resident would get an empty reply. That is a failed turn.
            raise RasaUnavailable("POST /webhooks/rest/webhook: empty reply")
    except RasaUnavailable as exc:
        # The fault, never the text or the sender: logs carry no personal data.
        logger.error("rasa unavailable: %s", exc)
        return Turn(messages=[{"text": TROUBLE.get(language_hint, TROUBLE["en"])}], crisis=crisis, failed=True)
    if not any(m.get("text") or m.get("buttons") or m.get("custom") for m in messages):
        # Every turn has an answer; none means an action failed inside Rasa (e.g. the action server was
        # unreachable). The resident is told, instead of reading nothing.
        logger.error("rasa gave no reply")
        return Turn(messages=[{"text": TROUBLE.get(language_hint, TROUBLE["en"])}], crisis=crisis, failed=True)
    return Turn(messages=messages, crisis=crisis)
