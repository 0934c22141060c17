"""Showing matched programs, creating the consented referral, and recording the consents after it."""

from __future__ import annotations

import logging
from datetime import date
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict
from sqlalchemy import or_, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from actions.forms import CONSENT_SCOPES, CONSENT_SLOTS, DEMOGRAPHICS, channel_of, contact_kind
from actions.messages import CONTACT_HOW, by_when, from_org, need_words, program_line, reach_line, t
from actions.sender import proven_sender
from actions.services import services
from referrals.deadline import bound_lock_wait, restore_lock_wait, time_left, turn_deadline
from referrals.models import ReferralCase, ReferralLogEntry, Resident
from referrals.residents import create_referral, recent_referral_counts, record_unmet_need
from referrals.matching import AGE_BANDS, INCOME_BANDS, Answers, match_programs, unmet_reason
from referrals.privacy import current_consents, has_consent, record_consent

logger = logging.getLogger(__name__)


def language_of(tracker: Tracker) -> str:
    return tracker.get_slot("language") or "en"


def answers_of(tracker: Tracker) -> Answers:
    def known(slot: str, allowed: Any) -> str | None:
        value = tracker.get_slot(slot)
        return value if value in allowed else None

    return Answers(
        zip_code=tracker.get_slot("zip_code"),
        age_band=known("age_band", AGE_BANDS),
        income_band=known("income_band", INCOME_BANDS),
        business_stage=known("business_stage", ("idea", "new", "established")),
        language=language_of(tracker),
        topics=tuple(tracker.get_slot("topics") or ()),
    )


def log_unmet_need(tracker: Tracker, reason: str) -> None:
    """Add the anonymous unmet-need row of this request (no_program | all_full | declined).

    Written the way the referral log is: only for a sender the gateway vouched for (so nobody can fill
    the reports through Rasa's open REST channel), never after the turn's deadline, and within what is
    left of it. A failed write is logged (its error class only) and the conversation goes on as if written.
    """
    if not proven_sender(tracker):
        logger.warning("unmet-need row not written: the sender id carries no valid proof")
        return
    left = time_left(turn_deadline(tracker.latest_message.get("metadata")))
    if left is not None and left <= 0:
        logger.error("unmet-need row not written: the turn's deadline had passed (%s)", reason)
        return
    answers = answers_of(tracker)
    try:
        with services().sessions.begin() as session:
            if left is not None:
                bound_lock_wait(session, left)
            record_unmet_need(session, reason=reason, need=str(tracker.get_slot("need") or "")[:40],
                              neighborhood=tracker.get_slot("neighborhood"), age_band=answers.age_band,
                              language=answers.language, channel=channel_of(tracker))
            if left is not None:
                restore_lock_wait(session)
    except SQLAlchemyError as exc:
        logger.error("unmet-need write failed: %s (%s)", type(exc).__name__, reason)


class ActionShowPrograms(Action):
    def name(self) -> str:
        return "action_show_programs"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: DomainDict) -> list[dict[str, Any]]:
        svc = services()
        programs, _ = svc.directory()
        with svc.sessions() as session:
            recent = recent_referral_counts(session)
        lang = language_of(tracker)
        result = match_programs(tracker.get_slot("need"), answers_of(tracker), programs, recent,
                                svc.settings.area_median_income)
        if not result.matches:
            log_unmet_need(tracker, unmet_reason(result))
            dispatcher.utter_message(text=t(lang, "no_programs"))
            return [SlotSet("matched_programs", None), SlotSet("referral_choice", None)]
        sms = channel_of(tracker) == "sms"
        one = len(result.matches) == 1
        # On SMS the question heads the list and the reply line closes it (action_ask_referral_choice):
        # a three-program list then costs three segments, not four.
        dispatcher.utter_message(text=t(lang, ("ask_first" if sms else "intro") + ("_one" if one else "")))
        status_asked = "immigration" in (tracker.get_slot("topics") or [])
        for i, match in enumerate(result.matches, start=1):
            dispatcher.utter_message(text=program_line(i, match, lang, status_asked, hours=not sms))
        return [SlotSet("matched_programs", [m.program.id for m in result.matches]),
                SlotSet("referral_choice", None)]


class ActionAskReferralChoice(Action):
    def name(self) -> str:
        return "action_ask_referral_choice"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: DomainDict) -> list[dict[str, Any]]:
        lang = language_of(tracker)
        programs, _ = services().directory()
        by_id = {p.id: p for p in programs}
        shown = [by_id[pid] for pid in tracker.get_slot("matched_programs") or [] if pid in by_id]
        buttons = [{"title": p.text("name", lang), "payload": f'/inform{{"choice":"{i}"}}'}
                   for i, p in enumerate(shown, start=1)]
        buttons.append({"title": t(lang, "no_thanks"), "payload": '/inform{"choice":"0"}'})
        if channel_of(tracker) == "sms" and shown and just_listed(tracker, len(shown)):
            dispatcher.utter_message(buttons=buttons)  # the question heads the list just sent
        else:
            dispatcher.utter_message(text=t(lang, "ask"), buttons=buttons)
        return []


def just_listed(tracker: Tracker, count: int) -> bool:
    """Whether the bot's last message is the last line of a list of `count` programs."""
    last = next((e for e in reversed(tracker.events) if e.get("event") == "bot"), None)
    return bool(last and str(last.get("text") or "").startswith(f"{count}. "))


def referral_question(tracker: Tracker, lang: str) -> str:
    """The words the resident said yes to by picking a program (recorded with the consent)."""
    shown = tracker.get_slot("matched_programs") or []
    if channel_of(tracker) == "sms":
        return t(lang, "ask_first_one" if len(shown) == 1 else "ask_first")
    return t(lang, "ask")


class ActionCreateReferral(Action):
    """Writes the case and its log entry, and confirms only after the commit succeeded."""

    def name(self) -> str:
        return "action_create_referral"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: DomainDict) -> list[dict[str, Any]]:
        # referral_id None tells the consent form that no referral was made in this request.
        reset = [SlotSet("referral_choice", None), SlotSet("matched_programs", None), SlotSet("need", None),
                 SlotSet("contact_status", None), SlotSet("referral_id", None)] + [SlotSet(s, None) for s in CONSENT_SLOTS]
        lang = language_of(tracker)
        shown = tracker.get_slot("matched_programs") or []
        choice = tracker.get_slot("referral_choice")
        if not shown:
            return reset  # 'no programs' was already said
        if choice in (None, "0") or not str(choice).isdigit() or int(choice) > len(shown):
            if choice == "0":  # "No thanks"
                log_unmet_need(tracker, "declined")
            dispatcher.utter_message(text=t(lang, "no_referral"))
            if channel_of(tracker) == "sms":
                # The SMS list left the hours out: whoever declines gets how and when to call each one.
                by_id = {p.id: p for p in services().directory()[0]}
                listed = [by_id[pid] for pid in shown if pid in by_id]
                if listed:
                    dispatcher.utter_message(text="\n".join(f"{p.text('name', lang)}: {reach_line(p, lang)}"
                                                            for p in listed))
            return reset
        if not proven_sender(tracker):
            # Rasa's REST channel takes any conversation id; only the gateway's (with its proof) gets a case.
            logger.warning("referral refused: the sender id carries no valid proof")
            dispatcher.utter_message(text=t(lang, "referral_failed"))
            return reset
        svc = services()
        programs, _ = svc.directory()
        program = next((p for p in programs if p.id == shown[int(choice) - 1]), None)
        if program is None:
            dispatcher.utter_message(text=t(lang, "no_programs"))
            return reset
        # The turn's deadline (referrals/deadline.py): store nothing the resident will not be told about.
        left = time_left(turn_deadline(tracker.latest_message.get("metadata")))
        if left is not None and left <= 0:
            logger.error("referral not written: the turn's deadline had passed (program %s)", program.id)
            dispatcher.utter_message(text=t(lang, "referral_failed"))
            return reset
        channel = channel_of(tracker)
        kind = "sms" if channel == "sms" else contact_kind(tracker.sender_id)
        if channel == "web" and (kind is None or tracker.get_slot("contact_status") == "declined"):
            # No way to reach the resident: no case goes to the queue; they get the program's own line.
            # They declined the referral itself (contact is what it needs), so it counts as declined.
            log_unmet_need(tracker, "declined")
            dispatcher.utter_message(text=t(lang, "no_contact_referral", program=program.text("name", lang),
                                            reach=reach_line(program, lang)))
            return reset
        try:
            with svc.sessions.begin() as session:
                if left is not None:
                    bound_lock_wait(session, left)
                case = create_referral(
                    session, pseudonym=tracker.sender_id, program=program, need=tracker.get_slot("need"),
                    answers=answers_of(tracker), neighborhood=tracker.get_slot("neighborhood"),
                    channel=channel_of(tracker))
                # The resident just picked a program in answer to this question: consent (a), word for word.
                record_consent(session, tracker.sender_id, "referral", True, wording=referral_question(tracker, lang),
                               language=lang, channel=channel_of(tracker))
                questions = consent_questions(session, tracker.sender_id, case.id)
                if channel == "web" and kind != "phone":
                    questions = [q for q in questions if q != "consent_followup"]  # no number to text
                case_id = case.id
                if left is not None:
                    restore_lock_wait(session)
        except SQLAlchemyError as exc:
            # No personal data in the log: the error class and the program id are enough to act on.
            logger.error("referral write failed: %s (program %s)", type(exc).__name__, program.id)
            dispatcher.utter_message(text=t(lang, "referral_failed"))
            return reset
        how = CONTACT_HOW.get(lang, CONTACT_HOW["en"])
        dispatcher.utter_message(text=t(
            lang, "referral_confirmed", program=program.text("name", lang),
            organization=from_org(program.text("organization", lang), lang), how=how.get(kind or "", how["other"]),
            when=by_when(date.today(), lang), reference=case_id[:8].upper()))
        # For the gateway, never shown to the resident: it seals the contact for this referral in the vault.
        dispatcher.utter_message(json_message={"referral_created": case_id})
        # The consent form comes next (a rule); "Anything else?" follows it (action_save_consents).
        return reset + [SlotSet("referral_id", case_id), SlotSet("consent_questions", questions)]


def earlier_demographics(session: Session, pseudonym: str, referral_id: str) -> tuple[str | None, str | None] | None:
    """(race_ethnicity, gender) this resident gave with an earlier referral, or None if never asked."""
    resident = session.get(Resident, pseudonym)
    if resident is None:
        return None
    log = ReferralLogEntry
    row = session.scalar(select(log).where(log.resident_log_id == resident.log_id, log.referral_id != referral_id,
                                           or_(log.race_ethnicity.is_not(None), log.gender.is_not(None)))
                         .order_by(log.id.desc()).limit(1))
    return (row.race_ethnicity, row.gender) if row else None


def consent_questions(session: Session, pseudonym: str, referral_id: str) -> list[str]:
    """The consent_form slots to ask: only what this resident has never answered."""
    consents = current_consents(session, pseudonym)
    questions = [slot for slot, scope in CONSENT_SCOPES.items() if scope not in consents]
    analytics = consents.get("analytics")
    if (analytics is None or analytics.granted) and earlier_demographics(session, pseudonym, referral_id) is None:
        questions += DEMOGRAPHICS  # asked only if analytics is (or was) granted: ValidateConsentForm
    return questions


class ActionSaveConsents(Action):
    """Writes the consent answers and, with consent to analytics, the demographics, in one transaction.

    Consents go to `consents` with the wording shown. Demographics go only onto the anonymous
    `referral_log` rows of this referral, never onto the case. A resident asked before gets the
    answers they gave then, so every referral made under consent (c) carries them.
    """

    def name(self) -> str:
        return "action_save_consents"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: DomainDict) -> list[dict[str, Any]]:
        done = [SlotSet("referral_id", None)] + [SlotSet(s, None) for s in CONSENT_SLOTS]
        referral_id = tracker.get_slot("referral_id")
        if not referral_id:
            # No referral in this request ("no thanks", no contact, or it failed): nothing was asked.
            return done + offer_next_need(dispatcher, tracker, closing=False)
        lang, channel, who = language_of(tracker), channel_of(tracker), tracker.sender_id
        questions = tracker.get_slot("consent_questions") or []
        shown_in = tracker.get_slot("consent_shown_in") or {}
        if not proven_sender(tracker):
            logger.warning("consent write refused: the sender id carries no valid proof")
            dispatcher.utter_message(text=t(lang, "consent_failed"))
            dispatcher.utter_message(text=t(lang, "anything_else"))
            return done
        try:
            with services().sessions.begin() as session:
                case = session.get(ReferralCase, str(referral_id)[:36])
                if case is None or case.resident_pseudonym != who:
                    # The slot names someone else's referral (or none): write nothing at all.
                    logger.warning("consent write refused: the referral is not the sender's")
                    dispatcher.utter_message(text=t(lang, "consent_failed"))
                    dispatcher.utter_message(text=t(lang, "anything_else"))
                    return done
                for slot, scope in CONSENT_SCOPES.items():
                    answer = tracker.get_slot(slot)
                    if slot in questions and answer in ("yes", "no"):
                        shown = shown_in.get(slot, lang)
                        record_consent(session, who, scope, answer == "yes", wording=t(shown, f"ask_{slot}"),
                                       language=shown, channel=channel)
                if has_consent(session, who, "analytics"):
                    if all(slot in questions for slot in DEMOGRAPHICS):
                        race, gender = (tracker.get_slot(slot) for slot in DEMOGRAPHICS)
                    else:
                        race, gender = earlier_demographics(session, who, referral_id) or (None, None)
                    session.execute(update(ReferralLogEntry).where(ReferralLogEntry.referral_id == referral_id)
                                    .values(race_ethnicity=race, gender=gender))
        except SQLAlchemyError as exc:
            logger.error("consent write failed: %s", type(exc).__name__)
            dispatcher.utter_message(text=t(lang, "consent_failed"))
        return done + offer_next_need(dispatcher, tracker, closing=True)


def offer_next_need(dispatcher: CollectingDispatcher, tracker: Tracker, closing: bool) -> list[dict[str, Any]]:
    """At the end of a request: the next need the resident mentioned ("You also mentioned rent: ..."), with
    Yes (that need's own payload, so the usual rule starts it) and No; else "Anything else?" if `closing`."""
    lang = language_of(tracker)
    pending = list(tracker.get_slot("other_needs") or [])
    if not pending:
        if closing:
            dispatcher.utter_message(text=t(lang, "anything_else"))
        return []
    need = pending.pop(0)
    what = need_words(need, list(tracker.get_slot("topics") or []), lang)
    dispatcher.utter_message(text=t(lang, "also", what=what),
                             buttons=[{"title": t(lang, "yes"), "payload": f"/{need}"},
                                      {"title": t(lang, "no"), "payload": "/deny"}])
    return [SlotSet("other_needs", pending)]
