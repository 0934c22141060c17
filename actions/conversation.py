"""Conversation-level actions: language, need, crisis, a person, start over."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActiveLoop, AllSlotsReset, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.forms import CONSENT_SLOTS
from actions.services import detector
from referrals.language import explicit_switch
from referrals.needs import PROGRAM_NEEDS, need_for_intent

# Slots that describe one request; a new need keeps where the resident lives and their age band.
# An interrupted consent form leaves nothing behind: its answers are only written when it completes.
REQUEST_SLOTS = ("need", "business_stage", "matched_programs", "referral_choice", "referral_id", *CONSENT_SLOTS)


class ActionDetectLanguage(Action):
    """Custom slot mapping for `language`, run by Rasa after every user message.

    Sticky: set from the first message that clearly is English or Spanish, changed afterwards only
    when the resident asks ("english", "espanol").
    """

    def name(self) -> str:
        return "action_detect_language"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: DomainDict) -> list[dict[str, Any]]:
        return self._expire_offer(tracker) + self._language(tracker)

    @staticmethod
    def _expire_offer(tracker: Tracker) -> list[dict[str, Any]]:
        """The offer of a person holds for the one message right after it: a "yes" an hour later, after
        other questions, must not record a callback nobody asked for."""
        if not tracker.get_slot("callback_offered"):
            return []
        seen_user = False
        for event in reversed(tracker.events):
            if event.get("event") == "user":
                if seen_user:
                    break
                seen_user = True
            elif seen_user and event.get("event") == "action" and event.get("name") != "action_listen":
                return [] if event.get("name") == "action_offer_callback" else [SlotSet("callback_offered", False)]
        return [SlotSet("callback_offered", False)]

    @staticmethod
    def _language(tracker: Tracker) -> list[dict[str, Any]]:
        text = tracker.latest_message.get("text") or ""
        current = tracker.get_slot("language")
        if text.startswith("/"):
            # A button payload carries no language; the gateway may say what the withheld text was in.
            hint = (tracker.latest_message.get("metadata") or {}).get("language")
            return [SlotSet("language", hint)] if current is None and hint in ("en", "es") else []
        switch = explicit_switch(text)
        if switch and switch != current:
            return [SlotSet("language", switch)]
        if current is None:
            detected = detector().detect(text)
            if detected:
                return [SlotSet("language", detected)]
        return []


class ActionSetNeed(Action):
    def name(self) -> str:
        return "action_set_need"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: DomainDict) -> list[dict[str, Any]]:
        intent = (tracker.latest_message.get("intent") or {}).get("name")
        need = need_for_intent(intent)
        events = [SlotSet(slot, None) for slot in REQUEST_SLOTS]
        if need in PROGRAM_NEEDS:
            events.append(SlotSet("need", need))
        return events


class ActionCloseRequest(Action):
    """Drops an open question and the current request; the rule around it says why (crisis, a person)."""

    def name(self) -> str:
        return "action_close_request"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: DomainDict) -> list[dict[str, Any]]:
        return [ActiveLoop(None), SlotSet("requested_slot", None)] + [SlotSet(s, None) for s in REQUEST_SLOTS]


class ActionStartOver(Action):
    """Forget every answer but the language (the rule then shows the menu)."""

    def name(self) -> str:
        return "action_start_over"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: DomainDict) -> list[dict[str, Any]]:
        return [ActiveLoop(None), AllSlotsReset(), SlotSet("language", tracker.get_slot("language"))]
