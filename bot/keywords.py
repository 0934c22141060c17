"""SMS keywords, answered by the gateway before the NLU: STOP, START, HELP, MY DATA, DELETE, STATUS.

Why exact whole-message matching: a keyword changes what the city may send (STOP, START) or what it
keeps (DELETE), so it must never fire on a sentence that merely contains the word ("how do i stop
spending so much" is a coaching question, "borrar todo" means start over). The whole message must be
the keyword, compared after folding case and accents, trimming spaces, quotes and trailing punctuation
("Stop!", " NO MÁS ", "opt-out."). A politeness word around it is allowed ("stop please", "por favor
baja"), and a few unmistakable phrases ("stop texting me", "no mas mensajes") count too.

Why YES and SI are conditional: carriers expect START, YES and UNSTOP to opt a number back in, but "yes"
and "si" are also ordinary answers in the dialogue ("Want a person to call you?"). So a YES/SI hit
carries `only_if_opted_out=True`: it is an opt-in while the number is opted out, and ordinary text
otherwise. START, UNSTOP and COMENZAR always opt in (texting START to a subscribed number just confirms
the subscription, as carriers do). The gateway asks `hit.applies(opted_out)`.

`language` is the language the keyword is written in. STOP, START, HELP and INFO are what carriers tell
everyone to send, so a gateway that already knows the resident's language should prefer that.

The replies live in KEYWORD_TEXTS. English ones use only GSM-7 basic characters and fit one SMS
(160 characters) with the default city name; Spanish ones stay in GSM-7 too (no accented vowels other
than those GSM-7 has, as in domain.yml) and fit two (320). tests/test_keywords.py holds them to it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Sequence

from referrals.language import fold

KINDS = ("stop", "start", "help", "mydata", "delete", "status")

# The human line of the Financial Empowerment Center, as in domain.yml's utter_human (a test checks they agree).
PERSON_PHONE = "(555) 010-0311"


@dataclass(frozen=True)
class KeywordHit:
    kind: str  # one of KINDS
    language: str  # "en" or "es": the language of the keyword itself
    only_if_opted_out: bool = False  # YES / SI: an opt-in only while the number is opted out

    def applies(self, opted_out: bool) -> bool:
        """Whether the gateway should act on this keyword for a number whose opt-out state is `opted_out`."""
        return opted_out or not self.only_if_opted_out


# Folded forms (lower case, accents removed, inner spaces collapsed). Each word or phrase: (kind, language).
_KEYWORDS: dict[str, tuple[str, str]] = {}


def _add(kind: str, language: str, *phrases: str) -> None:
    for phrase in phrases:
        _KEYWORDS[phrase] = (kind, language)


_add("stop", "en", "stop", "stopall", "stop all", "unsubscribe", "cancel", "end", "quit", "revoke", "optout",
     "opt out", "unsubscribe me", "stop texting me", "stop texting", "stop messaging me", "stop texts",
     "no more texts", "stop sending me texts")
_add("stop", "es", "parar", "alto", "no mas", "cancelar", "detener", "baja", "darme de baja", "dar de baja",
     "no mas mensajes", "ya no me manden mensajes", "no me manden mas mensajes")
_add("start", "en", "start", "unstop")
_add("start", "es", "comenzar")
_add("help", "en", "help", "info")
_add("help", "es", "ayuda", "informacion")
_add("mydata", "en", "my data", "mydata")
_add("mydata", "es", "mis datos", "misdatos")
_add("delete", "en", "delete", "delete my data", "delete me")
_add("delete", "es", "borrar", "borrar mis datos", "eliminar", "eliminar mis datos", "borrame")
_add("status", "en", "status")
_add("status", "es", "estado")

# Ordinary answers in the dialogue, and an opt-in only while the number is opted out.
_CONDITIONAL_START = {"yes": "en", "si": "es"}

_POLITE = r"(?:please|pls|plz|por favor|porfa|porfavor)"
_EDGE_PUNCT = "\"'`.,;:!?\u00a1\u00bf()*-_~ "


def _normalize(text: str) -> str:
    folded = fold(text).strip(_EDGE_PUNCT)
    folded = re.sub(r"[-_]", " ", folded)  # "opt-out", "my_data"
    folded = re.sub(r"\s+", " ", folded).strip(_EDGE_PUNCT)
    folded = re.sub(rf"^{_POLITE},? |,? {_POLITE}$", "", folded)
    return folded.strip(_EDGE_PUNCT)


def match_keyword(text: str) -> KeywordHit | None:
    """The keyword `text` consists of, or None when it is anything else (including part of a sentence)."""
    if not text or len(text) > 60:
        return None
    key = _normalize(text)
    if key in _KEYWORDS:
        kind, language = _KEYWORDS[key]
        return KeywordHit(kind, language)
    if key in _CONDITIONAL_START:
        return KeywordHit("start", _CONDITIONAL_START[key], only_if_opted_out=True)
    return None


# Replies. Fields: {city} (the CITY_NAME setting), {phone} (a person to call). Kept in GSM-7 basic characters.
KEYWORD_TEXTS: dict[str, dict[str, str]] = {
    "en": {
        "stop": "{city}: You are unsubscribed and will get no more texts from us. Reply START to get texts again.",
        "start": "{city}: You are subscribed again. Reply HELP for help, STOP to opt out. Msg & data rates may apply.",
        "help": "{city} assistant for jobs, money and business help. A person: call {phone}, Mon-Fri 9-5. "
                "Reply STOP to opt out. Msg & data rates may apply.",
        "delete": "{city}: We deleted your number and your referrals. Nothing left can be tied to you. "
                  "Text us anytime to start again.",
        "mydata": "{city} holds: {contact}; {referrals}; {consents}. Reply DELETE to erase it.",
        "mydata_none": "{city} holds nothing tied to your number. Reply HELP for help.",
        "contact_yes": "your number, encrypted",
        "contact_no": "not your number",
        "referrals_none": "no referrals",
        "referrals_some": "referrals: {items}",
        "consents_none": "no consents",
        "consents_some": "you agreed to {items}",
        "more": "{n} more",
        "scope_referral": "be contacted",
        "scope_followup": "follow-ups",
        "scope_analytics": "anonymous reports",
    },
    "es": {
        "stop": "{city}: Se dio de baja y no le enviaremos mas mensajes. Para recibirlos otra vez, "
                "responda START o COMENZAR.",
        "start": "{city}: Ya puede recibir mensajes otra vez. Responda AYUDA para ayuda o BAJA para no "
                 "recibir mas. Pueden aplicar tarifas de mensajes y datos.",
        "help": "Asistente de {city} para empleo, dinero y negocios. Para hablar con una persona llame al "
                "{phone}, lunes a viernes de 9 a 5. Responda BAJA para no recibir mas mensajes. Pueden "
                "aplicar tarifas de mensajes y datos.",
        "delete": "{city}: Borramos su numero y sus referencias. Lo que queda ya no se puede ligar a usted. "
                  "Escribanos cuando quiera para empezar de nuevo.",
        "mydata": "{city} tiene: {contact}; {referrals}; {consents}. Responda BORRAR para eliminarlo.",
        "mydata_none": "{city} no tiene nada ligado a su numero. Responda AYUDA para ayuda.",
        "contact_yes": "su numero, cifrado",
        "contact_no": "no su numero",
        "referrals_none": "ninguna referencia",
        "referrals_some": "referencias: {items}",
        "consents_none": "ningun permiso",
        "consents_some": "usted acepto {items}",
        "more": "{n} mas",
        "scope_referral": "que lo contacten",
        "scope_followup": "seguimiento",
        "scope_analytics": "reportes anonimos",
    },
}

CONSENT_SCOPES = ("referral", "followup", "analytics")
MYDATA_TARGET = 320  # two SMS: the list of referrals is cut short ("and 2 more") to stay under it


def keyword_text(kind: str, language: str, city: str, phone: str = PERSON_PHONE) -> str:
    """The reply to a `stop`, `start`, `help` or `delete` keyword, in `language` ("en" or "es")."""
    texts = KEYWORD_TEXTS.get(language, KEYWORD_TEXTS["en"])
    return texts[kind].format(city=city, phone=phone)


def my_data_text(
    language: str,
    city: str,
    *,
    contact_on_file: bool,
    referrals: Sequence[str] = (),
    consents: Sequence[tuple[str, date]] = (),
) -> str:
    """The MY DATA reply: whether a contact is on file, the referrals (program names, e.g. with a status),
    and the consents given, each with its date. Consent scopes are those of CONSENT_SCOPES."""
    t = KEYWORD_TEXTS.get(language, KEYWORD_TEXTS["en"])
    if not contact_on_file and not referrals and not consents:
        return t["mydata_none"].format(city=city)
    consent_items = [f"{t.get('scope_' + scope, scope)} ({when.isoformat()})" for scope, when in consents]
    consent_part = t["consents_some"].format(items=", ".join(consent_items)) if consents else t["consents_none"]

    def render(shown: int) -> str:
        items = list(referrals[:shown])
        if shown < len(referrals):
            items.append(t["more"].format(n=len(referrals) - shown))
        referral_part = t["referrals_some"].format(items=", ".join(items)) if referrals else t["referrals_none"]
        return t["mydata"].format(
            city=city, contact=t["contact_yes"] if contact_on_file else t["contact_no"],
            referrals=referral_part, consents=consent_part,
        )

    shown = len(referrals)
    text = render(shown)
    while len(text) > MYDATA_TARGET and shown > 1:
        shown -= 1
        text = render(shown)
    return text
