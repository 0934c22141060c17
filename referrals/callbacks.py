"""Callback requests: a resident accepted a person after the crisis reply, and staff call them back.

Why a table of its own (not a referral case): a callback is owed by the city's own staff, whatever the
need, and it must reach them even when the resident picked no program. A row says when it was asked,
on which channel, in which language, the time the reply promised (`call_by`) and a preferred time if the
resident gave one, as a normalized label ("tomorrow afternoon", "after 3 PM"). Never the words: the
label is built from a closed vocabulary, so nothing the resident wrote is stored. How to reach them is in
the contact vault (the gateway seals the SMS number, or the phone typed in the web chat), keyed by the same
pseudonym. Rows go with the resident (DELETE) or with retention (referrals/privacy.py).

Staffed hours come from the STAFFED_HOURS and CITY_TIMEZONE settings, so the reply tells the truth: within
hours "today by 5pm", outside them the next opening, and always 988 and 911 for right now.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from referrals.models import CallbackRequest, utcnow
from referrals.language import fold

REASONS = ("crisis", "live")  # live: asked for a person outside staffed hours, or nobody was free
STATUSES = ("open", "called", "unreachable")
MIN_LEAD = timedelta(hours=1)  # a request this close to closing time is promised for the next opening

_DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


# --- staffed hours ---------------------------------------------------------------------------

@dataclass(frozen=True)
class StaffedHours:
    days: frozenset[int]  # 0 = Monday
    opens: time
    closes: time
    zone: ZoneInfo

    @classmethod
    def parse(cls, spec: str, zone: str) -> "StaffedHours":
        """`Mon-Fri 09:00-17:00` (or `Mon,Wed,Fri 9:00-13:00`) in the IANA time zone `zone`."""
        m = re.fullmatch(r"\s*([A-Za-z,\- ]+?)\s+(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*", spec)
        if not m:
            raise ValueError(f"STAFFED_HOURS must look like 'Mon-Fri 09:00-17:00', not {spec!r}")
        days: set[int] = set()
        for part in m.group(1).lower().replace(" ", "").split(","):
            ends = [d[:3] for d in part.split("-")]
            if any(d not in _DAYS for d in ends) or len(ends) > 2:
                raise ValueError(f"unknown day in STAFFED_HOURS {spec!r}")
            a, b = _DAYS.index(ends[0]), _DAYS.index(ends[-1])
            days.update(range(a, b + 1) if a <= b else [*range(a, 7), *range(0, b + 1)])
        opens, closes = time(int(m.group(2)), int(m.group(3))), time(int(m.group(4)), int(m.group(5)))
        if closes <= opens:
            raise ValueError(f"STAFFED_HOURS closes before it opens: {spec!r}")
        return cls(frozenset(days), opens, closes, ZoneInfo(zone))

    @classmethod
    def from_settings(cls, settings) -> "StaffedHours":
        return cls.parse(settings["STAFFED_HOURS"], settings["CITY_TIMEZONE"])


@dataclass(frozen=True)
class Window:
    """What the reply may promise: staff are in now (call today by `call_by`), or the next opening."""

    staffed_now: bool
    starts: datetime  # local time a person can first call
    call_by: datetime  # local time the call is owed by
    day: str  # "today", "tomorrow" or a weekday index as text ("0".."6"), in the city's time zone


def call_window(hours: StaffedHours, now: datetime | None = None) -> Window:
    local = (now or utcnow()).astimezone(hours.zone)

    def at(d: date, t: time) -> datetime:
        return datetime.combine(d, t, tzinfo=hours.zone)

    today = local.date()
    if today.weekday() in hours.days and at(today, hours.opens) <= local and local + MIN_LEAD <= at(today, hours.closes):
        return Window(True, local, at(today, hours.closes), "today")
    d = today if local < at(today, hours.opens) else today + timedelta(days=1)
    while d.weekday() not in hours.days:
        d += timedelta(days=1)
    label = "today" if d == today else "tomorrow" if d == today + timedelta(days=1) else str(d.weekday())
    return Window(False, at(d, hours.opens), at(d, hours.closes), label)


def hours_label(hours: StaffedHours, lang: str) -> str:
    """'Mon-Fri 9 AM-5 PM' / 'de lunes a viernes, de 9 a. m. a 5 p. m.'."""
    days = sorted(hours.days)
    names = WEEKDAY_LABELS["es" if lang == "es" else "en"]
    contiguous = days == list(range(days[0], days[-1] + 1))
    opens, closes = (clock(x.hour, x.minute, lang) for x in (hours.opens, hours.closes))
    if lang == "es":
        span = (f"de {names[days[0]]} a {names[days[-1]]}" if contiguous and len(days) > 1
                else ", ".join(names[d] for d in days))
        return f"{span}, de {opens} a {closes}"
    span = (f"{names[days[0]][:3]}-{names[days[-1]][:3]}" if contiguous and len(days) > 1
            else ", ".join(names[d][:3] for d in days))
    return f"{span} {opens}-{closes}"


# --- the resident's preferred time -----------------------------------------------------------

_WEEKDAYS = {"monday": 0, "mon": 0, "lunes": 0, "tuesday": 1, "tues": 1, "martes": 1, "wednesday": 2, "wed": 2,
             "miercoles": 2, "thursday": 3, "thurs": 3, "jueves": 3, "friday": 4, "fri": 4, "viernes": 4,
             "saturday": 5, "sat": 5, "sabado": 5, "sunday": 6, "domingo": 6}
_PARTS = [
    # Bare "manana" is "tomorrow"; "la manana" is the morning.
    (r"\b(in the |this )?(morning|mornings)\b|\b(por|en|de) las? mananas?\b|\btemprano\b", "morning"),
    (r"\b(at |al |a )?(noon|mediodia|lunch( ?time)?|hora de (la )?comida)\b", "noon"),
    (r"\b(in the |this |por la |en la |de la )?(afternoon|afternoons|tarde|tardes)\b", "afternoon"),
    (r"\b(in the |this |por la |en la |de la )?(evening|evenings|tonight|noche|noches|esta noche)\b", "evening"),
]
_HOUR = re.compile(
    r"\b(?P<rel>after|before|at|around|by|anytime after|despues de( las?)?|antes de( las?)?|a las?|como a las?|"
    r"tipo|desde las?)?\s*(?P<h>\d{1,2})(?::(?P<m>\d{2}))?\s*(?P<ap>a\.? ?m\.?|p\.? ?m\.?)?(?=\s|$|[.,!?])")

PART_LABELS = {"en": {"morning": "morning", "noon": "noon", "afternoon": "afternoon", "evening": "evening"},
               "es": {"morning": "en la mañana", "noon": "al mediodía", "afternoon": "en la tarde",
                      "evening": "en la noche"}}
DAY_LABELS = {"en": {"today": "today", "tomorrow": "tomorrow"}, "es": {"today": "hoy", "tomorrow": "mañana"}}
WEEKDAY_LABELS = {"en": ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"],
                  "es": ["lunes", "martes", "miércoles", "jueves", "viernes", "sábado", "domingo"]}
REL_LABELS = {"en": {"after": "after", "before": "before", "at": "at"},
              "es": {"after": "después de las", "before": "antes de las", "at": "a las"}}


@dataclass(frozen=True)
class PreferredTime:
    day: str | None = None  # "today", "tomorrow" or a weekday index as text
    part: str | None = None  # morning | noon | afternoon | evening
    rel: str | None = None  # after | before | at
    hour: int | None = None  # 0-23
    minute: int = 0

    def label(self, language: str = "en") -> str:
        """A short label built only from this closed vocabulary: what is stored and repeated back."""
        lang = language if language in PART_LABELS else "en"
        bits = []
        if self.day:
            bits.append(DAY_LABELS[lang].get(self.day) or WEEKDAY_LABELS[lang][int(self.day)])
        if self.hour is not None:
            bits.append(f"{REL_LABELS[lang][self.rel or 'at']} {clock(self.hour, self.minute, lang)}")
        elif self.part:
            bits.append(PART_LABELS[lang][self.part])
        return " ".join(bits)


def clock(hour: int, minute: int = 0, language: str = "en") -> str:
    """3 PM / 9:30 AM in English; 3 p. m. in Spanish."""
    h12 = hour % 12 or 12
    mm = f":{minute:02d}" if minute else ""
    if language == "es":
        return f"{h12}{mm} {'a. m.' if hour < 12 else 'p. m.'}"
    return f"{h12}{mm} {'AM' if hour < 12 else 'PM'}"


def parse_preferred_time(text: str) -> PreferredTime | None:
    """A time to call from a short free-text answer ("after 3", "tomorrow morning", "mañana en la tarde",
    "el lunes despues de las 10"), or None when the text names no time. A bare number is not a time
    (it is a menu choice), and nothing but the closed vocabulary above is kept."""
    if not text or len(text) > 120:
        return None
    s = fold(text).replace("\u00f1", "n")
    s = re.sub(r"[^\w\s:.]", " ", s)
    s = re.sub(r"\s+", " ", s).strip()
    part = None
    for pattern, name in _PARTS:
        m = re.search(pattern, s)
        if m:
            part = name
            s = s[:m.start()] + " " + s[m.end():]
            break
    day = None
    if re.search(r"\b(today|hoy)\b", s):
        day = "today"
    elif re.search(r"\b(tomorrow|tmrw|tmr|tomorow|manana)\b", s):
        day = "tomorrow"
    else:
        for word, idx in _WEEKDAYS.items():
            if re.search(rf"\b{word}\b", s):
                day = str(idx)
                break
    hour = minute = None
    rel = None
    for m in _HOUR.finditer(s):
        h = int(m.group("h"))
        has_marker = bool(m.group("rel") or m.group("ap") or m.group("m"))
        if not has_marker or h > 23:
            continue
        ap = (m.group("ap") or "").replace(".", "").replace(" ", "")
        if ap == "pm" and h < 12:
            h += 12
        elif ap == "am" and h == 12:
            h = 0
        elif not ap and 1 <= h <= 7:
            h += 12  # "after 3" means the afternoon
        hour, minute = h, int(m.group("m") or 0)
        word = fold(m.group("rel") or "")
        rel = ("after" if word.startswith(("after", "anytime", "despues", "desde")) else
               "before" if word.startswith(("before", "by", "antes")) else "at")
        break
    if part is None and day is None and hour is None:
        return None
    return PreferredTime(day=day, part=part, rel=rel, hour=hour, minute=minute or 0)


# --- queries ---------------------------------------------------------------------------------

def request_callback(session: Session, pseudonym: str, *, reason: str, channel: str, language: str,
                     call_by: datetime, preferred: PreferredTime | None = None) -> CallbackRequest:
    """Record a callback request (one open request per resident: a second "yes" updates the first)."""
    if reason not in REASONS:
        raise ValueError(f"unknown callback reason {reason!r}")
    row = open_request(session, pseudonym)
    if row is None:
        row = CallbackRequest(pseudonym=pseudonym, reason=reason, channel=channel[:20], language=language[:5],
                              call_by=call_by)
        session.add(row)
    row.preferred_time = preferred.label("en") if preferred else row.preferred_time
    session.flush()
    return row


def open_request(session: Session, pseudonym: str) -> CallbackRequest | None:
    return session.scalar(select(CallbackRequest).where(CallbackRequest.pseudonym == pseudonym,
                                                        CallbackRequest.status == "open")
                          .order_by(CallbackRequest.id.desc()).limit(1))


def set_preferred_time(session: Session, pseudonym: str, preferred: PreferredTime) -> bool:
    """Note a preferred time on the resident's open request; False when there is none."""
    row = open_request(session, pseudonym)
    if row is None:
        return False
    row.preferred_time = preferred.label("en")
    session.flush()
    return True


def open_requests(session: Session, limit: int = 200) -> list[CallbackRequest]:
    """Open requests, the ones owed soonest first: what staff work through."""
    return list(session.scalars(select(CallbackRequest).where(CallbackRequest.status == "open")
                                .order_by(CallbackRequest.call_by, CallbackRequest.id).limit(limit)))
