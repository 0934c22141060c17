"""Conversation-level actions: language, need, crisis, a person, start over."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActiveLoop, AllSlotsReset, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.forms import CONSENT_SLOTS
from actions.messages import need_words, t
from actions.services import detector
from referrals.language import explicit_switch
from referrals.needs import PROGRAM_NEEDS, need_for_intent
from referrals.topics import hear

# Slots that describe one request; a new need keeps where the resident lives and their age band.
# An interrupted consent form leaves nothing behind: its answers are only written when it completes.
REQUEST_SLOTS = ("need", "business_stage", "matched_programs", "referral_choice", "contact_status", "referral_id",
                 *CONSENT_SLOTS)


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


class ActionExtractTopics(Action):
    """Custom slot mapping for `topics`, run by Rasa after every user message.

    Keeps what the resident spoke of as topic codes (referrals/topics.py), never their words, so that
    immigration status mentioned in the middle of the questions still shows in the program list.
    """

    def name(self) -> str:
        return "action_extract_topics"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: DomainDict) -> list[dict[str, Any]]:
        text = tracker.latest_message.get("text") or ""
        if text.startswith("/"):
            return []
        heard = hear(text).topics
        known = list(tracker.get_slot("topics") or [])
        new = [k for k in heard if k not in known]
        return [SlotSet("topics", known + new)] if new else []


class ActionSetNeed(Action):
    """Takes the need the resident named, says back in a few words what was understood, and keeps the
    other needs of the same message for later ("You also mentioned rent: ...", action_save_consents).

    The model's intent decides, unless the message negates it: "actually i need help with rent, not a
    job" switches to rent even when the model hears "job".
    """

    def name(self) -> str:
        return "action_set_need"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: DomainDict) -> list[dict[str, Any]]:
        intent = (tracker.latest_message.get("intent") or {}).get("name")
        text = tracker.latest_message.get("text") or ""
        need = need_for_intent(intent)
        events = [SlotSet(slot, None) for slot in REQUEST_SLOTS]
        pending = [n for n in tracker.get_slot("other_needs") or [] if n in PROGRAM_NEEDS]
        if text.startswith("/"):  # a button: the resident chose exactly this, nothing to say back
            if need in PROGRAM_NEEDS:
                events += [SlotSet("need", need), SlotSet("other_needs", [n for n in pending if n != need])]
            return events
        heard = hear(text)
        if heard.needs and (need in heard.negated or need not in PROGRAM_NEEDS):
            need = heard.needs[0]
        if need not in PROGRAM_NEEDS:
            return events
        others = [n for n in heard.needs if n != need]
        others += [n for n in pending if n != need and n not in others]
        lang = tracker.get_slot("language") or "en"
        # What the resident said of themselves (immigration status) holds for every need; the rest is per need.
        topics = list(heard.topics) + [k for k in tracker.get_slot("topics") or []
                                       if k == "immigration" and k not in heard.topics]
        what = need_words(need, topics, lang)
        later = [need_words(n, topics, lang) for n in heard.needs if n != need]
        if later:
            dispatcher.utter_message(text=t(lang, "understood_more", what=what, others=", ".join(later)))
        else:
            dispatcher.utter_message(text=t(lang, "understood", what=what))
        return events + [SlotSet("need", need), SlotSet("other_needs", others), SlotSet("topics", topics)]


class ActionCloseRequest(Action):
    """Drops an open question and the current request; the rule around it says why (crisis, a person)."""

    def name(self) -> str:
        return "action_close_request"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: DomainDict) -> list[dict[str, Any]]:
        return [ActiveLoop(None), SlotSet("requested_slot", None), SlotSet("other_needs", None),
                SlotSet("topics", None)] + [SlotSet(s, None) for s in REQUEST_SLOTS]


class ActionStartOver(Action):
    """Forget every answer but the language (the rule then shows the menu)."""

    def name(self) -> str:
        return "action_start_over"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: DomainDict) -> list[dict[str, Any]]:
        return [ActiveLoop(None), AllSlotsReset(), SlotSet("language", tracker.get_slot("language"))]
