"""Trust questions ("what do you do with my information", "who can see what i write?", "¿guardan mis
datos?"): what the city keeps, who sees it, for how long, and the keywords that show or erase it.

One answer covers the three questions, because residents ask them together and an SMS answer should not
need a follow-up. The retention period is the RETENTION_DAYS setting, so the answer stays true when the
city changes it. The wording follows the channel: "text" on SMS, "type" in the web chat.
"""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.programs import channel_of, language_of
from actions.services import services

TEXTS = {
    "en": ("We keep your answers (need, ZIP, age range) and, only if you pick a program, your {contact}, "
           "encrypted. Only staff of that program and the city team that runs this service see them. "
           "All of it is deleted {days} days after your last message. {verb} MY DATA to see it, DELETE "
           "to erase it, STATUS for your referrals."),
    "es": ("Guardamos sus respuestas (necesidad, código postal, edad) y, si elige un programa, su {contact}, "
           "cifrado. Solo los ven ese programa y el equipo de la ciudad a cargo. Se borra todo "
           "{days} días después de su último mensaje. {verb} MIS DATOS para verlo, BORRAR para eliminarlo o "
           "ESTADO para sus referidos."),
}
WORDS = {
    "en": {"sms": ("number", "Text"), "web": ("phone or email", "Type")},
    "es": {"sms": ("número", "Escriba"), "web": ("teléfono o correo", "Escriba")},
}


def privacy_answer(lang: str, channel: str, days: int) -> str:
    lang = lang if lang in TEXTS else "en"
    contact, verb = WORDS[lang]["sms" if channel == "sms" else "web"]
    return TEXTS[lang].format(contact=contact, verb=verb, days=days)


class ActionAnswerPrivacy(Action):
    def name(self) -> str:
        return "action_answer_privacy"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: DomainDict) -> list[dict[str, Any]]:
        days = int(services().settings["RETENTION_DAYS"])
        dispatcher.utter_message(text=privacy_answer(language_of(tracker), channel_of(tracker), days))
        return []
