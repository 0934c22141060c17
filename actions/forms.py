"""Form validation: which questions a need asks, and what counts as an answer."""

from __future__ import annotations

import functools
from typing import Any, Callable

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.answers import (NOT_GIVEN, choice_index, parse_age_band, parse_business_stage, parse_contact_answer,
                             parse_gender, parse_income_band, parse_race_ethnicity, parse_yes_no, parse_zip)
from actions.messages import MULTI_SELECT, choice_buttons, from_org, serves_any_status, t
from actions.services import services
from referrals.models import ContactEntry
from referrals.matching import questions_for
from referrals.topics import hear


def answer_text(tracker: Tracker) -> str:
    """The resident's answer: a button's `choice` entity if there is one, else the text."""
    for entity in tracker.latest_message.get("entities") or []:
        if entity.get("entity") == "choice" and entity.get("value") is not None:
            return str(entity["value"])
    return tracker.latest_message.get("text") or ""


def _lang(tracker: Tracker) -> str:
    return tracker.get_slot("language") or "en"


def channel_of(tracker: Tracker) -> str:
    metadata = tracker.latest_message.get("metadata") or {}
    return str(metadata.get("channel") or tracker.get_latest_input_channel() or "unknown")[:20]


def contact_kind(pseudonym: str) -> str | None:
    """How the vault can reach this resident ("sms", "phone", "email"), or None: never the contact itself."""
    with services().sessions() as session:
        entry = session.get(ContactEntry, pseudonym)
        return entry.kind if entry else None


def chosen_program(tracker: Tracker):
    """The program the resident picked in the referral form, or None ("no thanks", nothing shown)."""
    shown = tracker.get_slot("matched_programs") or []
    choice = str(tracker.get_slot("referral_choice") or "")
    if not choice.isdigit() or not 1 <= int(choice) <= len(shown):
        return None
    programs, _ = services().directory()
    return next((p for p in programs if p.id == shown[int(choice) - 1]), None)


Validator = Callable[[Any, Any, CollectingDispatcher, Tracker, DomainDict], dict[str, Any]]


def asked(validate: Validator) -> Validator:
    """Parse the resident's last message only for the question it answers.

    Rasa also hands a form's validation the slots set since the resident's last message: at activation,
    the values kept from an earlier request and the Nones of a reset. Parsing the last message for those
    would answer a question nobody asked with the words of another one ("Sorry, please pick one" right
    under the program list, a known ZIP code asked again, a referral choice taken as a consent), so
    they pass through as they are.
    """
    slot = validate.__name__.removeprefix("validate_")

    @functools.wraps(validate)
    def run(self: Any, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
            domain: DomainDict) -> dict[str, Any]:
        if tracker.get_slot("requested_slot") != slot:
            return {slot: value}
        return validate(self, value, dispatcher, tracker, domain)

    return run


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

    @asked
    def validate_zip_code(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                          domain: DomainDict) -> dict[str, Any]:
        _, neighborhoods = services().directory()
        found = parse_zip(answer_text(tracker), neighborhoods)
        if found is None:
            names = ", ".join(sorted(set(neighborhoods.values())))
            dispatcher.utter_message(text=t(_lang(tracker), "invalid_zip_code", names=names))
            return {"zip_code": None}
        zip_code, neighborhood = found
        return {"zip_code": zip_code, "neighborhood": neighborhood}

    @asked
    def validate_age_band(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                          domain: DomainDict) -> dict[str, Any]:
        return _choice("age_band", parse_age_band(answer_text(tracker)), dispatcher, tracker)

    @asked
    def validate_income_band(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                             domain: DomainDict) -> dict[str, Any]:
        return _choice("income_band", parse_income_band(answer_text(tracker)), dispatcher, tracker)

    @asked
    def validate_business_stage(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                                domain: DomainDict) -> dict[str, Any]:
        return _choice("business_stage", parse_business_stage(answer_text(tracker)), dispatcher, tracker)



class ValidateReferralForm(FormValidationAction):
    """The program choice, then, on the web only, how a caseworker can reach the resident.

    SMS has the number already. The web has nothing, so a referral made there without a phone or an
    email would land in a caseworker's queue with no way to call back. The contact itself never comes
    through here: the gateway seals it in the vault (POST /chat/contact, or a contact typed in the chat
    box) and sends only `contact_given`; this form checks the vault and asks again if nothing is there.
    """

    def name(self) -> str:
        return "validate_referral_form"

    async def required_slots(self, domain_slots: list[str], dispatcher: CollectingDispatcher,
                             tracker: Tracker, domain: DomainDict) -> list[str]:
        # Nothing to choose when nothing matched: the form submits at once.
        if not tracker.get_slot("matched_programs"):
            return []
        slots = ["referral_choice"]
        if (channel_of(tracker) == "web" and chosen_program(tracker) is not None
                and (tracker.get_slot("contact_status") or contact_kind(tracker.sender_id) is None)):
            slots.append("contact_status")
        return [s for s in domain_slots if s in slots]

    @asked
    def validate_referral_choice(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                                 domain: DomainDict) -> dict[str, Any]:
        if value is None:  # cleared by action_show_programs as the form starts: not an answer yet
            return {"referral_choice": None}
        shown = tracker.get_slot("matched_programs") or []
        text = answer_text(tracker)
        n = choice_index(text, len(shown))
        if n is None:
            if "immigration" in hear(text).topics:
                dispatcher.utter_message(text=status_answer(shown, _lang(tracker)))
            else:
                dispatcher.utter_message(text=t(_lang(tracker), "invalid_choice"))
            return {"referral_choice": None}
        return {"referral_choice": str(n)}

    @asked
    def validate_contact_status(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                                domain: DomainDict) -> dict[str, Any]:
        answer = parse_contact_answer(answer_text(tracker))
        if answer == "given" and contact_kind(tracker.sender_id) is None:
            answer = None  # only the gateway says "given", and only after sealing: never trust the word alone
        if answer is None:
            dispatcher.utter_message(text=t(_lang(tracker), "invalid_contact"))
        return {"contact_status": answer}


def status_answer(shown: list[str], lang: str) -> str:
    """Which of the programs on screen say in their record that they serve any immigration status."""
    programs, _ = services().directory()
    names = [p.text("name", lang) for pid in shown for p in programs if p.id == pid and serves_any_status(p)]
    if names:
        return t(lang, "status_some", names=", ".join(names))
    return t(lang, "status_none")


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


# --- consents and demographics, after a referral ------------------------------------------------

CONSENT_SCOPES = {"consent_followup": "followup", "consent_analytics": "analytics"}
DEMOGRAPHICS = ("race_ethnicity", "gender")
# Everything the consent form keeps between turns; cleared when a referral starts it and when it ends.
CONSENT_SLOTS = ("consent_questions", *CONSENT_SCOPES, *DEMOGRAPHICS, "retry_slot", "consent_shown_in")


class ValidateConsentForm(FormValidationAction):
    """The consent questions after a referral, then (only with consent to analytics) demographics.

    `action_create_referral` puts in `consent_questions` what this resident was never asked; the
    answers stay in slots until `action_save_consents` writes them in one transaction. An answer that
    is not understood is asked again once; the second time counts as No (a consent) or as not given
    (demographics), so a resident can never be stuck here.
    """

    def name(self) -> str:
        return "validate_consent_form"

    async def required_slots(self, domain_slots: list[str], dispatcher: CollectingDispatcher,
                             tracker: Tracker, domain: DomainDict) -> list[str]:
        questions = tracker.get_slot("consent_questions") or []
        # Demographics are among the questions only when analytics was granted before or is asked now.
        analytics = "consent_analytics" not in questions or tracker.get_slot("consent_analytics") == "yes"
        return [s for s in domain_slots if s in questions and (s not in DEMOGRAPHICS or analytics)]

    @staticmethod
    def _answer(slot: str, parsed: str | None, give_up: str, dispatcher: CollectingDispatcher,
                tracker: Tracker) -> dict[str, Any]:
        if parsed is None and tracker.get_slot("retry_slot") != slot:
            dispatcher.utter_message(text=t(_lang(tracker), "invalid_choice"))
            return {slot: None, "retry_slot": slot}
        answer = {slot: give_up if parsed is None else parsed, "retry_slot": None}
        if slot in CONSENT_SCOPES:
            # The language the question was shown in, so the stored wording is the one the resident read.
            shown = dict(tracker.get_slot("consent_shown_in") or {})
            shown[slot] = _lang(tracker)
            answer["consent_shown_in"] = shown
        return answer

    @asked
    def validate_consent_followup(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                                  domain: DomainDict) -> dict[str, Any]:
        return self._answer("consent_followup", parse_yes_no(answer_text(tracker)), "no", dispatcher, tracker)

    @asked
    def validate_consent_analytics(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                                   domain: DomainDict) -> dict[str, Any]:
        return self._answer("consent_analytics", parse_yes_no(answer_text(tracker)), "no", dispatcher, tracker)

    @asked
    def validate_race_ethnicity(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                                domain: DomainDict) -> dict[str, Any]:
        return self._answer("race_ethnicity", parse_race_ethnicity(answer_text(tracker)), NOT_GIVEN,
                            dispatcher, tracker)

    @asked
    def validate_gender(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                        domain: DomainDict) -> dict[str, Any]:
        return self._answer("gender", parse_gender(answer_text(tracker)), NOT_GIVEN, dispatcher, tracker)


class ActionAskConsentFollowup(_AskAction):
    slot = "consent_followup"


class ActionAskConsentAnalytics(_AskAction):
    slot = "consent_analytics"


class ActionAskRaceEthnicity(_AskAction):
    """Pick all that apply: numbers on SMS ("1 4"); on the web, checkboxes (the gateway marks the message)."""

    slot = "race_ethnicity"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: DomainDict) -> list[dict[str, Any]]:
        lang = _lang(tracker)
        web = channel_of(tracker) == "web"
        dispatcher.utter_message(text=t(lang, "ask_race_ethnicity_web" if web else "ask_race_ethnicity"),
                                 buttons=choice_buttons(self.slot, lang))
        if web and self.slot in MULTI_SELECT:
            dispatcher.utter_message(json_message={"multi_select": True})
        return []


class ActionAskContactStatus(Action):
    """Asks, as its own message, how a caseworker of the chosen program can reach a web resident."""

    def name(self) -> str:
        return "action_ask_contact_status"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: DomainDict) -> list[dict[str, Any]]:
        lang = _lang(tracker)
        program = chosen_program(tracker)
        organization = from_org(program.text("organization", lang), lang) if program else ""
        dispatcher.utter_message(text=t(lang, "ask_contact", organization=organization),
                                 buttons=[{"title": t(lang, "no_contact"), "payload": '/inform{"choice":"no_contact"}'}])
        # For the gateway and the widget, never shown: open the contact field, which posts to the vault.
        dispatcher.utter_message(json_message={"ask_contact": True})
        return []


class ActionAskGender(_AskAction):
    slot = "gender"
