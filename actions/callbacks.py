"""After the crisis reply: offer a person, and keep the promise when the resident accepts.

Accepting ("1", "yes", "sí", "call me", "yes, tomorrow morning") records a callback request staff act on
(referrals/callbacks.py) and the reply says truthfully when the call comes: within staffed hours "today
by 5 PM", outside them the next opening, with 988 and 911 for right now. The texts are written per channel:
on SMS "this number" is the number the resident texts from (the gateway seals it in the contact vault); on
the web there is no number yet, so the reply asks for one and the widget shows the contact box.
"""

from __future__ import annotations

import logging
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict
from sqlalchemy.exc import SQLAlchemyError

from actions.programs import channel_of, language_of
from actions.services import services
from referrals.callbacks import (WEEKDAY_LABELS, StaffedHours, Window, call_window, clock, hours_label,
                                 parse_preferred_time, request_callback)

logger = logging.getLogger(__name__)

TEXTS = {
    "en": {
        "offer": "Would you like a person from the city to call you?",
        "yes": "Yes, call me",
        "no": "No, thanks",
        "staffed": "OK. A person from the city will call you{where} today by {by}.{pref}",
        "closed": "OK. Our staff work {hours}, so nobody can call right now. We will call you{where} "
                  "{when}.{pref}",
        "where_sms": " at this number",
        "where_web": "",
        "ask_time": " A better time? Reply with it, like 'after 3pm'.",
        "pref": " You asked for: {pref}.",
        "web_number": " Type the phone number to call in the box below.",
        "danger_staffed": " If you are in danger now, call 911.",
        "danger_closed": " Right now, call or text 988 (day or night), or call 911 if you are in danger.",
        "failed": "Sorry, I couldn't record that because of a problem on our side. Please call (555) 010-0311 "
                  "(Mon-Fri 9am-5pm). Right now, call or text 988, or call 911 if you are in danger.",
        "declined": "OK. You can call or text 988 any time, day or night. I'm here if you need anything else.",
        "after": "{day} after {time}",
    },
    "es": {
        "offer": "¿Quiere que una persona de la ciudad le llame?",
        "yes": "Sí, que me llamen",
        "no": "No, gracias",
        "staffed": "Bien. Una persona de la ciudad le llamará{where} hoy antes de las {by}.{pref}",
        "closed": "Bien. Atendemos {hours}; ahora nadie puede llamarle. Le llamaremos{where} {when}.{pref}",
        "where_sms": " a este número",
        "where_web": "",
        "ask_time": " ¿Otra hora le queda mejor? Escríbala, como 'después de las 3'.",
        "pref": " Hora que pidió: {pref}.",
        "web_number": " Escriba abajo el número al que le llamamos.",
        "danger_staffed": " Si está en peligro ahora, llame al 911.",
        "danger_closed": " Ahora mismo: llame o envíe un texto al 988 (a toda hora), o llame al 911 si está "
                         "en peligro.",
        "failed": "Perdón, no pude anotarlo por un problema nuestro. Llame al (555) 010-0311 (lunes a viernes, "
                  "9 a 5). Ahora mismo, llame o envíe un texto al 988, o llame al 911 si está en peligro.",
        "declined": "Está bien. Puede llamar o enviar un texto al 988 a cualquier hora, de día o de noche. "
                    "Aquí estoy si necesita algo más.",
        "after": "{day} después de las {time}",
    },
}

_DAY_WORDS = {"en": {"today": "today", "tomorrow": "tomorrow"}, "es": {"today": "hoy", "tomorrow": "mañana"}}


def t(lang: str, key: str, **fields: Any) -> str:
    return TEXTS.get(lang, TEXTS["en"])[key].format(**fields)


def when_label(window: Window, lang: str) -> str:
    lang = "es" if lang == "es" else "en"
    day = _DAY_WORDS[lang].get(window.day) or (("el " if lang == "es" else "") + WEEKDAY_LABELS[lang][int(window.day)])
    return t(lang, "after", day=day, time=clock(window.starts.hour, window.starts.minute, lang))


def callback_reply(lang: str, channel: str, window: Window, hours: StaffedHours, pref: str | None) -> str:
    """What the resident is told once the request is recorded: the truth about when, per channel."""
    sms = channel == "sms"
    where = t(lang, "where_sms" if sms else "where_web")
    pref_text = t(lang, "pref", pref=pref) if pref else (t(lang, "ask_time") if sms else "")
    if window.staffed_now:
        text = t(lang, "staffed", where=where, by=clock(window.call_by.hour, window.call_by.minute, lang),
                 pref=pref_text)
    else:
        text = t(lang, "closed", hours=hours_label(hours, lang), where=where, when=when_label(window, lang),
                 pref=pref_text)
    if not sms:
        text += t(lang, "web_number")
    text += t(lang, "danger_staffed" if window.staffed_now else "danger_closed")
    return text.replace("m..", "m.")  # "5 p. m." ends a Spanish sentence once


class ActionOfferCallback(Action):
    """The question after the crisis reply; `callback_offered` makes the next "yes" a callback request."""

    def name(self) -> str:
        return "action_offer_callback"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: DomainDict) -> list[dict[str, Any]]:
        lang = language_of(tracker)
        dispatcher.utter_message(text=t(lang, "offer"), buttons=[
            {"title": t(lang, "yes"), "payload": "/human"}, {"title": t(lang, "no"), "payload": "/deny"}])
        return [SlotSet("callback_offered", True)]


class ActionRequestCallback(Action):
    """Records the callback request, then says when the call comes. Confirms only after the commit."""

    def name(self) -> str:
        return "action_request_callback"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: DomainDict) -> list[dict[str, Any]]:
        lang, channel = language_of(tracker), channel_of(tracker)
        svc = services()
        text = tracker.latest_message.get("text") or ""
        if text.startswith("/"):
            # A button, or "yes, tomorrow morning" mapped by the gateway: the time comes as a label.
            label = next((e.get("value") for e in tracker.latest_message.get("entities") or []
                          if e.get("entity") == "choice"), None)
            preferred = parse_preferred_time(str(label)) if label else None
        else:
            preferred = parse_preferred_time(text)
        try:
            hours = StaffedHours.from_settings(svc.settings)
            window = call_window(hours)
            with svc.sessions.begin() as session:
                request_callback(session, tracker.sender_id, reason="crisis", channel=channel, language=lang,
                                 call_by=window.call_by, preferred=preferred)
        except (SQLAlchemyError, ValueError) as exc:
            # The fault's class only: the message may carry what the resident wrote.
            logger.error("callback request failed: %s", type(exc).__name__)
            dispatcher.utter_message(text=t(lang, "failed"))
            return [SlotSet("callback_offered", False)]
        dispatcher.utter_message(text=callback_reply(lang, channel, window, hours,
                                                     preferred.label(lang) if preferred else None))
        # For the gateway: seal the SMS number (or ask the web resident for one), and take a time next.
        dispatcher.utter_message(json_message={"callback_requested": True})
        return [SlotSet("callback_offered", False)]


class ActionDeclineCallback(Action):
    def name(self) -> str:
        return "action_decline_callback"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: DomainDict) -> list[dict[str, Any]]:
        dispatcher.utter_message(text=t(language_of(tracker), "declined"))
        return [SlotSet("callback_offered", False)]
