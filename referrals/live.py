"""Live handoff: a resident who asks for a person gets one in the same thread (SMS or web chat).

Shape of a live conversation (one row in `live_conversations`, its messages in `live_messages`):

    queued  --take (one staff wins: a conditional UPDATE)-->  active  --close-->  closed (back to the bot)
    queued  --nobody took it within LIVE_WAIT_SECONDS-->      offered (a callback is offered)
    (asked outside the team's hours)                          offered
    offered --a time or "yes"--> closed, outcome "callback"; anything else --> closed, back to the bot

Why the rows carry no free text but the thread: the summary staff see is built from closed vocabularies
(need, neighborhood, language, which questions the bot asked), never what the resident wrote. Message
texts are sealed with the contact vault (the same key that seals phone numbers) and go with the
resident: `live_conversations.pseudonym` cascades from `residents`, and DELETE removes them. The
anonymous `handoff_log` records only events (requested, answered, timed out, closed), the wait in
seconds, team, channel, language, need and neighborhood, on the day: no pseudonym and no text.

Teams and their staffed hours are data (LIVE_TEAMS): 'Team | needs | hours; ...' where needs is a
comma list or '*', and hours a STAFFED_HOURS spec, 'always' or 'never'; 'off' turns live handoff off. The team's name is the staff
organization whose caseworkers answer. 'always' and 'never' are for desks staffed around the clock or
closed for a holiday; the tests use them to be open or closed now without touching the clock.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import CursorResult, func, select, update
from sqlalchemy.orm import Session

from referrals.callbacks import StaffedHours, hours_label
from referrals.models import HandoffLogEntry, LiveConversation, LiveMessage, as_utc, utcnow
from referrals.residents import get_or_create_resident

OPEN = ("queued", "active", "offered")
WAIT_HISTORY = 50  # answered conversations the usual wait is read from
WAIT_WINDOW = timedelta(days=30)
MAX_MESSAGE = 1600

# Which questions the bot asked, as staff read them (slot -> plain label); the values are not shown.
ASKED_LABELS = {"zip_code": "ZIP code", "age_band": "age", "income_band": "household income",
                "business_stage": "business stage", "referral_choice": "program choice",
                "contact_status": "how to reach them"}


# --- teams and hours --------------------------------------------------------------------------

@dataclass(frozen=True)
class Team:
    name: str
    needs: frozenset[str]  # empty: every need (the fallback team)
    hours: StaffedHours | None  # None with `always` True or False
    always: bool = False

    def open_now(self, now: datetime | None = None) -> bool:
        if self.hours is None:
            return self.always
        local = (now or utcnow()).astimezone(self.hours.zone)
        return (local.weekday() in self.hours.days and self.hours.opens <= local.time() < self.hours.closes)

    def hours_text(self, language: str) -> str:
        """' (our team is in Mon-Fri 9 AM-5 PM)', or '' for a desk with no regular hours."""
        return "" if self.hours is None else text(language, "team_hours", hours=hours_label(self.hours, language))


def parse_teams(spec: str, zone: str) -> list[Team]:
    """LIVE_TEAMS: 'Financial Empowerment Center | * | Mon-Fri 09:00-17:00; Workforce | employment | always'.
    'off': no live desk (asking for a person gets the office phone number, as before live handoff)."""
    if spec.strip().lower() == "off":
        return []
    teams = []
    for entry in (e.strip() for e in spec.split(";")):
        if not entry:
            continue
        parts = [p.strip() for p in entry.split("|")]
        if len(parts) != 3 or not parts[0]:
            raise ValueError(f"LIVE_TEAMS entries look like 'Team | needs | hours', not {entry!r}")
        name, needs, hours = parts
        wanted = frozenset() if needs == "*" else frozenset(n.strip() for n in needs.split(",") if n.strip())
        if hours.lower() in ("always", "never"):
            teams.append(Team(name, wanted, None, always=hours.lower() == "always"))
        else:
            teams.append(Team(name, wanted, StaffedHours.parse(hours, zone)))
    if not teams:
        raise ValueError("LIVE_TEAMS names no team")
    return teams


def teams_from_settings(settings) -> list[Team]:
    return parse_teams(settings["LIVE_TEAMS"], settings["CITY_TIMEZONE"])


def route(teams: list[Team], need: str | None) -> Team:
    """The team for a need: the first that lists it, else the first fallback ('*'), else the first team."""
    for team in teams:
        if need and need in team.needs:
            return team
    return next((t for t in teams if not t.needs), teams[0])


# --- what residents are told ------------------------------------------------------------------

TEXTS = {
    "en": {
        "queued": "OK, I'm getting you a person from {team}. {wait} {where}",
        "misunderstood": "Sorry, I'm not understanding you. ",
        "wait_usual": "It usually takes about {minutes} min.",
        "wait_unknown": "Someone will answer as soon as they are free.",
        "where_sms": "They will text you here. A person reads what you send now, not me.",
        "where_web": "Their answers show up here. A person reads what you send now, not me.",
        "danger": " If you are in danger now, call 911. Call or text 988 any time.",
        "taken": "You're now chatting with a person from {team}.",
        "closed": "The chat with a person has ended. You're back with the city's automated assistant. "
                  "Tell me what you need any time.",
        "after_hours": "Nobody can chat right now{hours}. Want a call back? Reply with a good time, like "
                       "'tomorrow morning'. For help now, call 211.",
        "team_hours": " (our team is in {hours})",
        "timed_out": "Sorry, nobody is free to answer right now. Want a call back? Reply with a good time, "
                     "like 'tomorrow morning'. For help now, call 211.",
        "danger_closed": " If you are in danger, call 911. Call or text 988 any time, day or night.",
        "callback_sms": "Thanks. A person will call you at this number {when}. For help now, call 211.",
        "callback_web": "Thanks. A person will call you {when}. Type the phone number to call in the box below.",
        "help_now": " For help now, call 211, or call or text 988 any time.",
        "when_open": "when our team is in ({hours})",
    },
    "es": {
        "queued": "Bien, le comunico con una persona de {team}. {wait} {where}",
        "misunderstood": "Perdón, no le estoy entendiendo. ",
        "wait_usual": "Normalmente tardan unos {minutes} min.",
        "wait_unknown": "Le contestarán en cuanto alguien esté libre.",
        "where_sms": "Le van a escribir a este número. Lo que mande ahora lo lee una persona, no yo.",
        "where_web": "Sus respuestas van a salir aquí. Lo que escriba ahora lo lee una persona, no yo.",
        "danger": " Si está en peligro ahora, llame al 911. Puede llamar o mandar un texto al 988 a cualquier hora.",
        "taken": "Ya le atiende una persona de {team}.",
        "closed": "Terminó la conversación con la persona. Sigue con el asistente automático de la ciudad. "
                  "Dígame lo que necesite cuando quiera.",
        "after_hours": "En este momento no hay nadie disponible para atenderle{hours}. ¿Quiere que le llamemos? Responda con una "
                       "hora que le quede bien, como 'mañana en la mañana'. Si necesita ayuda ya, llame al 211.",
        "team_hours": " (el equipo atiende {hours})",
        "timed_out": "Perdón, ahora no hay nadie libre para contestarle. ¿Quiere que le llamemos? Responda con "
                     "una hora, como 'mañana en la mañana'. Si necesita ayuda ya, llame al 211.",
        "danger_closed": " Si está en peligro, llame al 911. Puede llamar o mandar un texto al 988 a "
                         "cualquier hora.",
        "callback_sms": "Gracias. Una persona le llamará a este número {when}. Si necesita ayuda ya, llame al 211.",
        "callback_web": "Gracias. Una persona le llamará {when}. Escriba abajo el número al que le llamamos.",
        "help_now": " Si necesita ayuda ya, llame al 211, o llame o mande un texto al 988 a cualquier hora.",
        "when_open": "cuando el equipo esté ({hours})",
    },
}


def _lang(language: str | None) -> str:
    return language if language in TEXTS else "en"


def text(language: str | None, key: str, **fields: object) -> str:
    return TEXTS[_lang(language)][key].format(**fields)


def wait_text(language: str, usual: timedelta | None) -> str:
    if usual is None:
        return text(language, "wait_unknown")
    return text(language, "wait_usual", minutes=max(1, round(usual.total_seconds() / 60)))


def queued_text(language: str, channel: str, team: str, usual: timedelta | None, crisis: bool) -> str:
    body = text(language, "queued", team=team, wait=wait_text(language, usual),
                where=text(language, "where_sms" if channel == "sms" else "where_web"))
    return body + (text(language, "danger") if crisis else "")


def offer_text(language: str, key: str, team: Team | None, crisis: bool) -> str:
    """The callback offer: after hours (`after_hours`) or when nobody took it in time (`timed_out`)."""
    body = text(language, key, hours=team.hours_text(language) if team else "")
    return body + (text(language, "danger_closed") if crisis else "")


# --- conversations ----------------------------------------------------------------------------

def current(session: Session, pseudonym: str) -> LiveConversation | None:
    """The resident's live conversation that is not closed, if any."""
    return session.scalar(select(LiveConversation).where(LiveConversation.pseudonym == pseudonym,
                                                         LiveConversation.status.in_(OPEN))
                          .order_by(LiveConversation.requested_at.desc()).limit(1))


def request_person(session: Session, pseudonym: str, *, channel: str, language: str, team: Team,
                   need: str | None, neighborhood: str | None, asked: list[str], crisis: bool,
                   now: datetime | None = None) -> LiveConversation:
    """Queue the conversation for `team` (or, outside its hours, offer a callback): one open per resident."""
    row = current(session, pseudonym)
    if row is not None:
        row.crisis = row.crisis or crisis
        return row
    now = now or utcnow()
    get_or_create_resident(session, pseudonym)
    row = LiveConversation(pseudonym=pseudonym, channel=channel[:20], language=language[:5], team=team.name[:300],
                           need=(need or None) and need[:40], neighborhood=(neighborhood or None) and neighborhood[:100],
                           asked=",".join(a for a in asked if a in ASKED_LABELS)[:200] or None, crisis=crisis,
                           status="queued" if team.open_now(now) else "offered", requested_at=now)
    session.add(row)
    session.flush()
    log(session, row, "requested", outcome=None if row.status == "queued" else "after_hours", now=now)
    return row


def add_message(session: Session, row: LiveConversation, sender: str, body: str, seal, *,
                staff_id: int | None = None, delivery: str | None = None) -> LiveMessage:
    message = LiveMessage(conversation_id=row.id, sender=sender, sealed=seal(body[:MAX_MESSAGE]), staff_id=staff_id,
                          delivery=delivery)
    session.add(message)
    session.flush()
    return message


def messages(session: Session, conversation_id: str, after: int = 0, senders: tuple[str, ...] | None = None
             ) -> list[LiveMessage]:
    where = [LiveMessage.conversation_id == conversation_id, LiveMessage.id > after]
    if senders:
        where.append(LiveMessage.sender.in_(senders))
    return list(session.scalars(select(LiveMessage).where(*where).order_by(LiveMessage.id)))


def messages_for(session: Session, pseudonym: str, after: int = 0) -> list[LiveMessage]:
    """What staff (and the system) sent to this resident after message `after`, across their conversations:
    what the web chat polls for."""
    ids = select(LiveConversation.id).where(LiveConversation.pseudonym == pseudonym)
    return list(session.scalars(select(LiveMessage).where(LiveMessage.conversation_id.in_(ids),
                                                          LiveMessage.id > after,
                                                          LiveMessage.sender.in_(("staff", "system")))
                                .order_by(LiveMessage.id).limit(50)))


def last_closed_at(session: Session, pseudonym: str) -> datetime | None:
    """When this resident's latest conversation with a person ended (None: never)."""
    closed = session.scalar(select(func.max(LiveConversation.closed_at))
                            .where(LiveConversation.pseudonym == pseudonym))
    return as_utc(closed) if closed is not None else None


def take(session: Session, conversation_id: str, staff_id: int, team: str, now: datetime | None = None) -> bool:
    """Take a queued conversation. Several staff may press "take" at once: the conditional UPDATE lets exactly
    one of them change the row (the database serializes the writes), the others see 0 rows changed."""
    now = now or utcnow()
    result = session.execute(update(LiveConversation)
                             .where(LiveConversation.id == conversation_id, LiveConversation.status == "queued",
                                    LiveConversation.team == team)
                             .values(status="active", taken_by=staff_id, taken_at=now)
                             .execution_options(synchronize_session=False))
    if cast(CursorResult, result).rowcount != 1:
        return False
    row = _changed_row(session, conversation_id)
    log(session, row, "answered", wait=now - as_utc(row.requested_at), now=now)
    return True


def close_answered(session: Session, conversation_id: str, outcome: str, now: datetime | None = None) -> bool:
    """Close a conversation staff are answering, once: two staff (the taker and a supervisor) pressing "close"
    at once, or twice, get one closing (conditional UPDATE, as `take`); False for the one that lost."""
    now = now or utcnow()
    result = session.execute(update(LiveConversation)
                             .where(LiveConversation.id == conversation_id, LiveConversation.status == "active")
                             .values(status="closed", outcome=outcome[:20], closed_at=now)
                             .execution_options(synchronize_session=False))
    if cast(CursorResult, result).rowcount != 1:
        return False
    row = _changed_row(session, conversation_id)
    log(session, row, "closed", outcome=outcome, now=now)
    return True


def close(session: Session, row: LiveConversation, outcome: str, now: datetime | None = None) -> None:
    now = now or utcnow()
    row.status, row.outcome, row.closed_at = "closed", outcome[:20], now
    session.flush()
    log(session, row, "closed", outcome=outcome, now=now)


def expire_waiting(session: Session, wait: timedelta, now: datetime | None = None) -> list[LiveConversation]:
    """Conversations nobody took within `wait`: now `offered` (a callback). Each row changes once, whichever
    gateway gets there first (conditional UPDATE), so the resident hears it once."""
    now = now or utcnow()
    due = session.scalars(select(LiveConversation.id).where(LiveConversation.status == "queued",
                                                            LiveConversation.requested_at < now - wait)).all()
    expired = []
    for conversation_id in due:
        result = session.execute(update(LiveConversation)
                                 .where(LiveConversation.id == conversation_id, LiveConversation.status == "queued")
                                 .values(status="offered").execution_options(synchronize_session=False))
        if cast(CursorResult, result).rowcount == 1:
            row = _changed_row(session, conversation_id)
            log(session, row, "timed_out", wait=now - as_utc(row.requested_at), now=now)
            expired.append(row)
    return expired


def _changed_row(session: Session, conversation_id: str) -> LiveConversation:
    """The row this transaction's UPDATE just changed, reloaded from the database. It cannot be missing:
    the UPDATE holds it until the transaction ends."""
    row = session.get(LiveConversation, conversation_id)
    if row is None:
        raise RuntimeError(f"live conversation {conversation_id[:8]} vanished right after this transaction changed it")
    session.refresh(row)
    return row


def usual_wait(session: Session, team: str, now: datetime | None = None) -> timedelta | None:
    """The median time to answer of the team's last answered conversations (30 days), or None."""
    now = now or utcnow()
    waits = session.scalars(select(HandoffLogEntry.wait_seconds).where(
        HandoffLogEntry.team == team, HandoffLogEntry.event == "answered",
        HandoffLogEntry.occurred_on >= _day(now - WAIT_WINDOW)).order_by(HandoffLogEntry.id.desc())
        .limit(WAIT_HISTORY)).all()
    known = [w for w in waits if w is not None]
    return timedelta(seconds=statistics.median(known)) if known else None


REPORT_DAYS = 90
REPORT_MIN = 11  # a group with fewer answered conversations shows no figure (as the equity reports: 1-10 never)


def response_times(session: Session, team: str, by: str, now: datetime | None = None
                   ) -> list[tuple[str, float | None]]:
    """The team's median time to answer (minutes) per language or neighborhood, last REPORT_DAYS days.
    A group with fewer than REPORT_MIN answers gets None; counts are never shown, so no count can be
    worked out from the others."""
    column = {"language": HandoffLogEntry.language, "neighborhood": HandoffLogEntry.neighborhood}[by]
    rows = session.execute(select(column, HandoffLogEntry.wait_seconds).where(
        HandoffLogEntry.team == team, HandoffLogEntry.event == "answered",
        HandoffLogEntry.occurred_on >= _day((now or utcnow()) - timedelta(days=REPORT_DAYS)))).all()
    groups: dict[str, list[int]] = {}
    for value, wait in rows:
        if wait is not None:
            groups.setdefault(value or "unknown", []).append(wait)
    return [(value, round(statistics.median(waits) / 60, 1) if len(waits) >= REPORT_MIN else None)
            for value, waits in sorted(groups.items())]


def queue(session: Session, team: str, limit: int = 200) -> list[LiveConversation]:
    """Open conversations of a team: waiting ones first (oldest first), then those being answered."""
    rows = session.scalars(select(LiveConversation).where(LiveConversation.team == team,
                                                          LiveConversation.status.in_(("queued", "active")))
                           .order_by(LiveConversation.requested_at).limit(limit)).all()
    return sorted(rows, key=lambda r: r.status != "queued")


def asked_labels(row: LiveConversation) -> list[str]:
    return [ASKED_LABELS[a] for a in (row.asked or "").split(",") if a in ASKED_LABELS]


# --- the anonymous log ------------------------------------------------------------------------

def _day(value: datetime) -> datetime:
    value = as_utc(value)
    return value.replace(hour=0, minute=0, second=0, microsecond=0)


def log(session: Session, row: LiveConversation, event: str, *, wait: timedelta | None = None,
        outcome: str | None = None, now: datetime | None = None) -> None:
    session.add(HandoffLogEntry(event=event, team=row.team, channel=row.channel, language=row.language,
                                need=row.need, neighborhood=row.neighborhood, crisis=row.crisis,
                                wait_seconds=None if wait is None else max(0, int(wait.total_seconds())),
                                outcome=outcome, occurred_on=_day(now or utcnow())))
    session.flush()
