"""Two-way texting on a referral: the caseworker texts the referred resident from the case, replies thread in.

Who may be texted, checked at the moment of sending (referrals/outbound.py, purpose "caseworker"): the number
has not texted STOP, the resident consented to be contacted about the referral, and a phone number is in
the contact vault. On top of that, quiet hours (QUIET_HOURS, in CITY_TIMEZONE): nothing goes out at night.
Texts start from templates in the resident's language; the caseworker may write their own instead.

Replies: an SMS from a resident whose open case got a caseworker text in the last REPLY_WINDOW, and who has
no live conversation, is a reply to the caseworker: it goes into the case thread and the bot does not
answer it (it says that the caseworker will read it). After the window the bot answers as usual. Keywords
(STOP, DELETE...) and crisis words are handled before this, as always.

Texts are sealed with the vault and go with the case (cascade from `referral_cases`, itself deleted with the
resident and by retention).
"""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from referrals.models import CaseMessage, ReferralCase, as_utc, utcnow

REPLY_WINDOW = timedelta(days=3)
MAX_TEXT = 600  # a few SMS segments at most

TEMPLATES = {
    "en": {
        "intro": "Hello from {org} about your referral to {program} (ref. {ref}). When is a good time to call "
                 "you? Just reply here.",
        "missed": "We tried to call you about your referral to {program} (ref. {ref}). Reply with a good time "
                  "to call you.",
        "closing": "We're closing your referral to {program} (ref. {ref}) for now. Reply here if you still "
                   "need help.",
    },
    "es": {
        "intro": "Hola, le escribimos de {org} por su referido a {program} (ref. {ref}). ¿A qué hora le podemos "
                 "llamar? Responda a este mensaje.",
        "missed": "Intentamos llamarle por su referido a {program} (ref. {ref}). Responda con una hora en que "
                  "le podamos llamar.",
        "closing": "Vamos a cerrar por ahora su referido a {program} (ref. {ref}). Si todavía necesita ayuda, "
                   "responda a este mensaje.",
    },
}
TEMPLATE_LABELS = {"intro": "Introduce yourself, ask for a time to call", "missed": "We missed you",
                   "closing": "Closing the referral"}
ACK = {"en": "Thanks. Your caseworker will read this.", "es": "Gracias. Su trabajador social va a leer esto."}


def reference(case: ReferralCase) -> str:
    """The reference the resident was given: the first 8 characters of the case id, upper case."""
    return case.id[:8].upper()


def template_text(case: ReferralCase, key: str) -> str:
    texts = TEMPLATES.get(case.language, TEMPLATES["en"])
    return texts[key].format(org=case.organization, program=case.program_name, ref=reference(case))


def parse_quiet_hours(spec: str) -> tuple[time, time] | None:
    """'21:00-08:00' (from, until; may wrap midnight) or 'off'."""
    if spec.strip().lower() == "off":
        return None
    m = re.fullmatch(r"\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*", spec)
    if not m:
        raise ValueError(f"QUIET_HOURS must look like '21:00-08:00' or 'off', not {spec!r}")
    return time(int(m.group(1)), int(m.group(2))), time(int(m.group(3)), int(m.group(4)))


def quiet_now(spec: str, zone: str, now: datetime | None = None) -> bool:
    window = parse_quiet_hours(spec)
    if window is None:
        return False
    start, end = window
    local = (now or utcnow()).astimezone(ZoneInfo(zone)).time()
    return (start <= local < end) if start < end else (local >= start or local < end)


def add(session: Session, case: ReferralCase, sender: str, body: str, seal, *, staff_id: int | None = None,
        delivery: str | None = None) -> CaseMessage:
    message = CaseMessage(referral_id=case.id, sender=sender, sealed=seal(body[:1600]), staff_id=staff_id,
                          delivery=delivery)
    session.add(message)
    session.flush()
    return message


def thread(session: Session, case_id: str) -> list[CaseMessage]:
    return list(session.scalars(select(CaseMessage).where(CaseMessage.referral_id == case_id)
                                .order_by(CaseMessage.id)))


def awaiting_reply(session: Session, pseudonym: str, now: datetime | None = None) -> ReferralCase | None:
    """The open case of this resident that a caseworker texted within REPLY_WINDOW (the latest), if any."""
    now = now or utcnow()
    row = session.execute(
        select(ReferralCase, CaseMessage.created_at).join(CaseMessage, CaseMessage.referral_id == ReferralCase.id)
        .where(ReferralCase.resident_pseudonym == pseudonym, ReferralCase.status != "closed",
               CaseMessage.sender == "staff", CaseMessage.delivery == "sent",
               CaseMessage.created_at >= now - REPLY_WINDOW)
        .order_by(CaseMessage.id.desc()).limit(1)).first()
    return row[0] if row and as_utc(row[1]) >= now - REPLY_WINDOW else None
