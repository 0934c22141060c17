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

Why "no mas" only asks (kind `stop_ask`): it is not a carrier word, and in Spanish it is also "nothing
else". The carrier words (STOP, CANCEL, END, QUIT...) stay opt-outs even mid-conversation, because
Twilio blocks the number on them whatever we answer; the confirmation says what stops and how to undo it
(docs/keywords.md).

The replies live in KEYWORD_TEXTS, written with full accents; a `<key>_web` variant replaces `<key>` in
the web chat (no "reply", no carrier text). On SMS bot/sms.py folds them to GSM-7; each fits one body of
at most two segments. tests/test_keywords.py holds them to it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Sequence

from referrals.language import fold
from referrals.response_due import business_days_after

KINDS = ("stop", "stop_ask", "start", "help", "mydata", "delete", "status")

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
_add("stop", "es", "parar", "alto", "cancelar", "detener", "baja", "darme de baja", "dar de baja",
     "no mas mensajes", "ya no me manden mensajes", "no me manden mas mensajes")
# "no mas" alone is as often "nothing else" (an answer to "anything else?") as "no more texts": the gateway
# asks instead of opting the number out. The carrier words above (STOP, CANCEL, END, QUIT...) stay opt-outs:
# Twilio's Advanced Opt-Out blocks the number on them whatever we answer (docs/keywords.md).
_add("stop_ask", "es", "no mas", "no mas gracias", "ya no mas")
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


# Replies. Fields: {city} (the CITY_NAME setting), {phone} (a person to call). Written with full accents;
# on SMS bot/sms.py folds what GSM-7 lacks. Keys ending in `_web` replace the plain key in the web chat,
# which has no carrier, no "reply", no "Msg & data rates".
KEYWORD_TEXTS: dict[str, dict[str, str]] = {
    "en": {
        # What an opt-out stops, that it cancels nothing else, and how to undo it.
        "stop": "{city}: You're unsubscribed. We won't text you again, not even a caseworker about a referral. "
                "Your referrals stay open. To undo this, reply START.",
        # "no mas" is also how Spanish says "nothing else": ask, do not opt out.
        "stop_ask": "Do you want to stop getting texts from us? Reply STOP. If you are just done, no need to reply.",
        "start": "{city}: You are subscribed again. Reply HELP for help, STOP to opt out. Msg & data rates may apply.",
        "start_already": "{city}: Your texts from us are already on. Nothing changed.",
        # START sent here after the crisis reply was most likely meant for the hotline's 88788.
        "start_hotline": "{city}: Your texts from us are already on. For the Domestic Violence Hotline, call "
                         "800-799-7233, or text 88788 in a new message (not this chat).",
        "help": "{city} assistant for jobs, money and business. A person: {phone}, Mon-Fri 9-5. Text MY DATA, "
                "STATUS or DELETE about your data. STOP to opt out. Msg & data rates may apply.",
        "help_web": "{city} assistant for jobs, money and business. A person: call {phone}, Mon-Fri 9-5. Type "
                    "MY DATA to see what we keep, STATUS for your referrals, DELETE to erase it all.",
        "delete": "{city}: We deleted your number, your referrals and your answers. Nothing left can be tied "
                  "to you. Text us anytime to start again.",
        "delete_web": "{city}: We deleted your referrals, your contact details and your answers. Nothing left "
                      "can be tied to you. Write anytime to start again.",
        "delete_confirm": "{city}: You have {items}. DELETE erases it, and no caseworker will contact you. Reply "
                          "DELETE again to confirm; anything else keeps it.",
        "delete_confirm_web": "{city}: You have {items}. DELETE erases it, and no caseworker will contact you. "
                              "Type DELETE again to confirm; anything else keeps it.",
        "open_referrals": "{n} open referral(s): {names}",
        "open_callback": "a call-back request",
        "mydata": "{city} holds: {contact}; {referrals}; {consents}. Reply DELETE to erase it.",
        "mydata_web": "{city} holds: {contact}; {referrals}; {consents}. Type DELETE to erase it.",
        "mydata_none": "{city} holds nothing tied to your number. Reply HELP for help.",
        "mydata_none_web": "{city} holds nothing tied to this chat.",
        "contact_yes": "your number, encrypted",
        "contact_yes_web": "your contact details, encrypted",
        "contact_no": "not your number",
        "contact_no_web": "no contact details",
        "referrals_none": "no referrals",
        "referrals_some": "referrals: {items}",
        "consents_none": "no consents",
        "consents_some": "you agreed to {items}",
        "more": "{n} more",
        "scope_referral": "be contacted",
        "scope_followup": "follow-ups",
        "scope_analytics": "anonymous reports",
        "status_none": "{city}: You have no referrals with us. Tell me what you need and I'll find programs.",
        "status_item": "{program} (ref {ref}): {state} Questions: {phone}.",
        "status_more": "And {n} more: reply MY DATA for the list.",
        "status_more_web": "And {n} more: type MY DATA for the list.",
        "state_new": "sent. A caseworker will contact you by {due}.",
        "state_claimed": "a caseworker has it and will contact you by {due}.",
        "state_contacted": "a caseworker is in touch with you.",
        "state_enrolled": "you are enrolled.",
        "state_not_eligible": "the program found you don't qualify. Ask me for other programs.",
        "state_unreachable": "they could not reach you. Please call them.",
        "state_declined": "closed, as you asked.",
        "state_closed": "closed.",
        "short_new": "waiting for a caseworker", "short_claimed": "with a caseworker",
        "short_contacted": "in contact", "short_enrolled": "enrolled", "short_not_eligible": "not eligible",
        "short_unreachable": "could not reach you", "short_declined": "declined", "short_closed": "closed",
    },
    "es": {
        "stop": "{city}: Se dio de baja. No le enviaremos más mensajes, ni de un trabajador sobre su referido. "
                "Sus referidos siguen abiertos. Para deshacerlo, responda START o COMENZAR.",
        "stop_ask": "¿Quiere dejar de recibir nuestros mensajes? Responda BAJA. Si solo terminó, no hace falta "
                    "responder.",
        "start": "{city}: Volverá a recibir nuestros mensajes. Responda AYUDA para ayuda o BAJA para no "
                 "recibir más. Pueden aplicar tarifas de mensajes y datos.",
        "start_already": "{city}: Ya recibe nuestros mensajes. No cambió nada.",
        "start_hotline": "{city}: Ya recibe nuestros mensajes. Para la Línea contra la Violencia Doméstica, llame "
                         "al 800-799-7233 o escriba al 88788 en un mensaje nuevo (no en este chat).",
        "help": "Asistente de {city} para empleo, dinero y negocios. Una persona: {phone}, lunes a viernes de 9 "
                "a 5. Escriba MIS DATOS, ESTADO o BORRAR sobre sus datos. BAJA para no recibir más mensajes. "
                "Pueden aplicar tarifas de mensajes y datos.",
        "help_web": "Asistente de {city} para empleo, dinero y negocios. Una persona: llame al {phone}, lunes a "
                    "viernes de 9 a 5. Escriba MIS DATOS para ver lo que guardamos, ESTADO para sus referidos "
                    "o BORRAR para eliminarlo todo.",
        "delete": "{city}: Borramos su número, sus referidos y sus respuestas. Ya nada se puede ligar a usted. "
                  "Escríbanos para empezar de nuevo.",
        "delete_web": "{city}: Borramos sus referidos, sus datos de contacto y sus respuestas. Lo que queda ya no "
                      "se puede ligar a usted. Escríbanos cuando quiera para empezar de nuevo.",
        "delete_confirm": "{city}: Tiene {items}. BORRAR lo elimina y ningún trabajador le contactará. Responda "
                          "BORRAR otra vez para confirmar; cualquier otra cosa lo conserva.",
        "delete_confirm_web": "{city}: Tiene {items}. BORRAR lo elimina y ningún trabajador le contactará. Escriba "
                              "BORRAR otra vez para confirmar; cualquier otra cosa lo conserva.",
        "open_referrals": "{n} referido(s) abierto(s): {names}",
        "open_callback": "una solicitud de llamada",
        "mydata": "{city} tiene: {contact}; {referrals}; {consents}. Responda BORRAR para eliminarlo.",
        "mydata_web": "{city} tiene: {contact}; {referrals}; {consents}. Escriba BORRAR para eliminarlo.",
        "mydata_none": "{city} no tiene nada ligado a su número. Responda AYUDA para ayuda.",
        "mydata_none_web": "{city} no tiene nada ligado a este chat.",
        "contact_yes": "su número, cifrado",
        "contact_yes_web": "sus datos de contacto, cifrados",
        "contact_no": "no su número",
        "contact_no_web": "ningún dato de contacto",
        "referrals_none": "ningún referido",
        "referrals_some": "referidos: {items}",
        "consents_none": "ningún permiso",
        "consents_some": "usted aceptó {items}",
        "more": "{n} más",
        "scope_referral": "que lo contacten",
        "scope_followup": "seguimiento",
        "scope_analytics": "reportes anónimos",
        "status_none": "{city}: No tiene referidos con nosotros. Dígame qué necesita y le busco programas.",
        "status_item": "{program} (ref. {ref}): {state} Preguntas: {phone}.",
        "status_more": "Y {n} más: responda MIS DATOS para ver la lista.",
        "status_more_web": "Y {n} más: escriba MIS DATOS para ver la lista.",
        "state_new": "enviado. Un trabajador le contactará a más tardar el {due}.",
        "state_claimed": "un trabajador lo tiene y le contactará a más tardar el {due}.",
        "state_contacted": "un trabajador ya está en contacto con usted.",
        "state_enrolled": "ya está inscrito.",
        "state_not_eligible": "el programa vio que no califica. Pídame otros programas.",
        "state_unreachable": "no pudieron comunicarse con usted. Por favor, llámeles.",
        "state_declined": "cerrado, como usted pidió.",
        "state_closed": "cerrado.",
        "short_new": "espera a un trabajador", "short_claimed": "con un trabajador",
        "short_contacted": "en contacto", "short_enrolled": "inscrito", "short_not_eligible": "no califica",
        "short_unreachable": "no lo localizaron", "short_declined": "rechazado", "short_closed": "cerrado",
    },
}

_WEEKDAYS = {"en": ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"],
             "es": ["lunes", "martes", "miércoles", "jueves", "viernes", "sábado", "domingo"]}
_MONTHS = {"en": ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"],
           "es": ["enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto", "septiembre",
                  "octubre", "noviembre", "diciembre"]}
REPLY_DAYS = 2  # business days a caseworker has to make first contact (the promise in the referral reply)


def _text(language: str, key: str, channel: str = "sms") -> str:
    texts = KEYWORD_TEXTS.get(language, KEYWORD_TEXTS["en"])
    if channel != "sms" and key + "_web" in texts:
        return texts[key + "_web"]
    return texts[key]


def day_label(day: date, language: str) -> str:
    """'Fri, Dec 4' / 'viernes 4 de diciembre'."""
    if language == "es":
        return f"{_WEEKDAYS['es'][day.weekday()]} {day.day} de {_MONTHS['es'][day.month - 1]}"
    return f"{_WEEKDAYS['en'][day.weekday()]}, {_MONTHS['en'][day.month - 1]} {day.day}"


def status_label(language: str, status: str) -> str:
    """A referral status in a few plain words ("waiting for a caseworker"), never the raw code."""
    texts = KEYWORD_TEXTS.get(language, KEYWORD_TEXTS["en"])
    return texts.get("short_" + status, texts["short_new"])


@dataclass(frozen=True)
class ReferralStatus:
    program: str
    reference: str
    status: str
    created: date
    phone: str | None  # the program's phone; the city's line when the directory has none


def status_text(language: str, city: str, referrals: Sequence[ReferralStatus], channel: str = "sms",
                phone: str = PERSON_PHONE, limit: int = 306) -> str:
    """The STATUS reply: where each referral stands, what happens next, whom to call. Newest first."""
    if not referrals:
        return _text(language, "status_none", channel).format(city=city)
    items = []
    for r in sorted(referrals, key=lambda r: r.created, reverse=True):
        due = day_label(business_days_after(r.created, REPLY_DAYS), language)
        state = _text(language, "state_" + r.status if "state_" + r.status in KEYWORD_TEXTS["en"]
                      else "state_new", channel).format(due=due)
        items.append(_text(language, "status_item", channel).format(
            program=r.program, ref=r.reference, state=state, phone=r.phone or phone))
    shown = len(items)
    text = " ".join(items)
    while shown > 1 and len(text) > limit:
        shown -= 1
        text = " ".join(items[:shown] + [_text(language, "status_more", channel).format(n=len(items) - shown)])
    return text


CONSENT_SCOPES = ("referral", "followup", "analytics")
MYDATA_TARGET = 306  # two SMS segments: the list of referrals is cut short ("and 2 more") to stay under it


def keyword_text(kind: str, language: str, city: str, phone: str = PERSON_PHONE, channel: str = "sms",
                 **fields: str) -> str:
    """The reply to a keyword (`stop`, `start`, `help`, `delete`, ...), in `language` ("en" or "es"),
    worded for `channel` ("sms", or anything else for the web chat)."""
    return _text(language, kind, channel).format(city=city, phone=phone, **fields)


def my_data_text(
    language: str,
    city: str,
    *,
    contact_on_file: bool,
    referrals: Sequence[str] = (),
    consents: Sequence[tuple[str, date]] = (),
    channel: str = "sms",
) -> str:
    """The MY DATA reply: whether a contact is on file, the referrals (program names, e.g. with a status),
    and the consents given, each with its date. Consent scopes are those of CONSENT_SCOPES."""
    t = dict(KEYWORD_TEXTS.get(language, KEYWORD_TEXTS["en"]))
    if channel != "sms":
        t.update({k.removesuffix("_web"): v for k, v in t.items() if k.endswith("_web")})
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
