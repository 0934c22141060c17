"""Form validation: which questions a need asks, and what counts as an answer."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.answers import (choice_index, parse_age_band, parse_business_stage, parse_income_band,
                             parse_zip)
from actions.messages import choice_buttons, t
from actions.services import services
from referrals.matching import questions_for


def answer_text(tracker: Tracker) -> str:
    """The resident's answer: a button's `choice` entity if there is one, else the text."""
    for entity in tracker.latest_message.get("entities") or []:
        if entity.get("entity") == "choice" and entity.get("value") is not None:
            return str(entity["value"])
    return tracker.latest_message.get("text") or ""


def _lang(tracker: Tracker) -> str:
    return tracker.get_slot("language") or "en"


def _choice(slot: str, parsed: str | None, dispatcher: CollectingDispatcher, tracker: Tracker) -> dict[str, Any]:
    if parsed is None:
        dispatcher.utter_message(text=t(_lang(tracker), "invalid_choice"))
    return {slot: parsed}


class ValidateEligibilityForm(FormValidationAction):
    def name(self) -> str:
        return "validate_eligibility_form"

    async def required_slots(self, domain_slots: list[str], dispatcher: CollectingDispatcher,
                             tracker: Tracker, domain: DomainDict) -> list[str]:
        need = tracker.get_slot("need")
        programs, _ = services().directory()
        wanted = questions_for(need, programs) if need else ["zip_code"]
        return [s for s in domain_slots if s in wanted]

    def validate_zip_code(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                          domain: DomainDict) -> dict[str, Any]:
        _, neighborhoods = services().directory()
        found = parse_zip(answer_text(tracker), neighborhoods)
        if found is None:
            dispatcher.utter_message(text=t(_lang(tracker), "invalid_zip_code"))
            return {"zip_code": None}
        zip_code, neighborhood = found
        return {"zip_code": zip_code, "neighborhood": neighborhood}

    def validate_age_band(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                          domain: DomainDict) -> dict[str, Any]:
        return _choice("age_band", parse_age_band(answer_text(tracker)), dispatcher, tracker)

    def validate_income_band(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                             domain: DomainDict) -> dict[str, Any]:
        return _choice("income_band", parse_income_band(answer_text(tracker)), dispatcher, tracker)

    def validate_business_stage(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                                domain: DomainDict) -> dict[str, Any]:
        return _choice("business_stage", parse_business_stage(answer_text(tracker)), dispatcher, tracker)



class ValidateReferralForm(FormValidationAction):
    def name(self) -> str:
        return "validate_referral_form"

    async def required_slots(self, domain_slots: list[str], dispatcher: CollectingDispatcher,
                             tracker: Tracker, domain: DomainDict) -> list[str]:
        # Nothing to choose when nothing matched: the form submits at once.
        return domain_slots if tracker.get_slot("matched_programs") else []

    def validate_referral_choice(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                                 domain: DomainDict) -> dict[str, Any]:
        shown = tracker.get_slot("matched_programs") or []
        n = choice_index(answer_text(tracker), len(shown))
        if n is None:
            dispatcher.utter_message(text=t(_lang(tracker), "invalid_choice"))
            return {"referral_choice": None}
        return {"referral_choice": str(n)}


class _AskAction(Action):
    """Asks one form question in the resident's language (`action_ask_<slot>`, called by the form)."""

    slot = ""

    def name(self) -> str:
        return f"action_ask_{self.slot}"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: DomainDict) -> list[dict[str, Any]]:
        lang = _lang(tracker)
        dispatcher.utter_message(text=t(lang, f"ask_{self.slot}"), buttons=choice_buttons(self.slot, lang))
        return []


class ActionAskZipCode(_AskAction):
    slot = "zip_code"


class ActionAskAgeBand(_AskAction):
    slot = "age_band"


class ActionAskIncomeBand(_AskAction):
    slot = "income_band"


class ActionAskBusinessStage(_AskAction):
    slot = "business_stage"
