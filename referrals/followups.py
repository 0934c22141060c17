"""Closing the loop with the resident: one follow-up text after a case closes, and what their answer does.

    python -m referrals followups      send the follow-ups that are due (run it from cron, e.g. hourly)

A case that reached an outcome (enrolled, not eligible, unreachable, declined, closed) gets one text,
only if the resident agreed to follow-ups and has not opted out (referrals/outbound.py checks both at
the moment of sending). Each case is tried once: `followup_status` records `sent` (`logged` without a Twilio
account), or why it was skipped, so a resident is never texted twice about the same referral.

Their reply, within FOLLOWUP_WINDOW: "1" / "it worked" records the outcome; "2" / "it didn't work"
re-opens the referral for a caseworker. Both become a case event and an anonymous referral-log row
(event `followup`), so the equity reports see outcomes as residents tell them.
"""

from __future__ import annotations

import json
import logging
import re
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from referrals.config import Settings
from referrals.models import CaseEvent, ReferralCase, utcnow
from referrals.cases import log_case_event
from referrals.language import fold
from referrals.outbound import Outbound

logger = logging.getLogger("referrals.followups")

OUTCOME_STATUSES = ("enrolled", "not_eligible", "unreachable", "declined", "closed")
FOLLOWUP_WINDOW = timedelta(days=14)
RECENT = timedelta(days=30)  # cases closed longer ago than this are not followed up any more

TEXTS = {
    "en": {
        "ask": "{city}: Your referral to {program} is closed. Did it help? Reply 1 if it worked, 2 if it "
               "didn't. Reply STOP to opt out.",
        "worked": "Thank you! We're glad it worked. Text us anytime if you need something else.",
        "reopened": "Sorry it didn't work. We reopened your referral: a caseworker will contact you within "
                    "2 business days.",
    },
    "es": {
        "ask": "{city}: Su referido a {program} se cerro. Le sirvio? Responda 1 si funciono, 2 si no "
               "funciono. Responda BAJA para no recibir mas mensajes.",
        "worked": "Gracias! Nos alegra que haya funcionado. Escribanos cuando necesite algo mas.",
        "reopened": "Lamentamos que no funcionara. Reabrimos su referido: un trabajador le contactara en 2 "
                    "dias habiles.",
    },
}

_WORKED = {"1", "one", "uno", "yes", "si", "it worked", "worked", "it did", "it helped", "helped", "yes it worked",
           "funciono", "si funciono", "me sirvio", "si me sirvio", "sirvio"}
_NOT_WORKED = {"2", "two", "dos", "no", "it didnt work", "it did not work", "didnt work", "did not work",
               "not really", "it didnt", "no funciono", "no me sirvio", "no sirvio"}


def parse_answer(text: str) -> str | None:
    """'worked', 'not_worked', or None when the text is not an answer to the follow-up."""
    key = re.sub(r"[^\w\s]", "", fold(text)).strip()
    key = re.sub(r"\s+", " ", key)
    if key in _WORKED:
        return "worked"
    if key in _NOT_WORKED:
        return "not_worked"
    return None


def send_due(settings: Settings, sessions: sessionmaker[Session]) -> dict[str, int]:
    """Send every follow-up that is due; the count of each outcome."""
    outbound = Outbound(settings, sessions)
    now = utcnow()
    with sessions() as session:
        due = session.execute(
            select(ReferralCase.id, ReferralCase.resident_pseudonym, ReferralCase.program_name, ReferralCase.language)
            .where(ReferralCase.status.in_(OUTCOME_STATUSES), ReferralCase.followup_status.is_(None),
                   ReferralCase.updated_at >= now - RECENT)).all()
    counts: dict[str, int] = {}
    for case_id, who, program, language in due:
        texts = TEXTS.get(language, TEXTS["en"])
        result = outbound.send(who, texts["ask"].format(city=settings["CITY_NAME"], program=program), "followup")
        status = result.status if result.status in ("sent", "logged") else f"skipped_{result.status}"
        if result.status == "failed":
            status = None  # a Twilio fault: try again on the next run
        with sessions.begin() as session:
            case = session.get(ReferralCase, case_id)
            if status is not None:
                case.followup_status, case.followup_at = status, utcnow()
                if status == "sent":
                    log_case_event(session, case, "followup", "asked")
        counts[status or "failed"] = counts.get(status or "failed", 0) + 1
    logger.info(json.dumps({"event": "followups", **counts}))
    return counts


def pending_case(session: Session, pseudonym: str) -> ReferralCase | None:
    """The case whose follow-up this resident may be answering."""
    return session.scalar(
        select(ReferralCase).where(ReferralCase.resident_pseudonym == pseudonym,
                                   ReferralCase.followup_status == "sent",
                                   ReferralCase.followup_at >= utcnow() - FOLLOWUP_WINDOW)
        .order_by(ReferralCase.followup_at.desc()).limit(1))


def record_answer(session: Session, case: ReferralCase, answer: str | None) -> str | None:
    """Record the resident's answer; the key of the reply text. Anything else the resident writes ends
    the wait (None): a later "1" is a menu choice again, not an answer to an old question."""

    now = utcnow()
    if answer is None:
        case.followup_status = "unanswered"
        return None
    if answer == "worked":
        case.followup_status = "answered_worked"
        session.add(CaseEvent(referral_id=case.id, at=now, user_id=None, note="Resident replied: it worked."))
        log_case_event(session, case, "followup", "worked")
        return "worked"
    case.followup_status = "answered_not_worked"
    case.status, case.updated_at = "new", now
    case.claimed_by, case.claimed_at = None, None
    session.add(CaseEvent(referral_id=case.id, at=now, user_id=None, status="new",
                          reason="Resident replied that it did not work; referral reopened."))
    log_case_event(session, case, "followup", "not_worked")
    log_case_event(session, case, "status", "new")
    return "reopened"
