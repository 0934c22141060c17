"""Plain-text rendering of bot messages: buttons become numbered choices, and back.

A basic phone shows no buttons, so "Reply 1 for A job, 2 for Training..." is how a choice reads over
SMS and in the terminal. A reply of "1", "one"/"uno", or the choice's own words maps back to the
button's payload.
"""

from __future__ import annotations

import re
from typing import Any

from referrals.language import fold

NUMBER_WORDS = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
    "uno": 1, "dos": 2, "tres": 3, "cuatro": 4, "cinco": 5, "seis": 6, "siete": 7, "ocho": 8, "nueve": 9,
}


def numbered_choices(buttons: list[dict[str, Any]], language: str = "en") -> str:
    items = [f"{i}) {b.get('title', '')}" for i, b in enumerate(buttons, start=1)]
    lead = "Responda con un numero:" if language == "es" else "Reply with a number:"
    return lead + "\n" + "\n".join(items)


def render_plain(messages: list[dict[str, Any]], language: str = "en") -> list[str]:
    """Each bot message as plain text, buttons appended as a numbered list."""
    out = []
    for m in messages:
        text = (m.get("text") or "").strip()
        buttons = m.get("buttons") or []
        if buttons:
            text = (text + "\n" if text else "") + numbered_choices(buttons, language)
        if text:
            out.append(text)
    return out


def match_choice(text: str, buttons: list[dict[str, Any]]) -> str | None:
    """The payload the resident chose with "2", "two", "dos" or the choice's title, else None."""
    if not buttons:
        return None
    folded = fold(text).strip()
    folded = re.sub(r"[^\w\s$]", " ", folded).strip()
    m = re.fullmatch(r"(?:#|no\.?|number|numero)?\s*(\d{1,2})", folded)
    n = int(m.group(1)) if m else NUMBER_WORDS.get(folded)
    if n is not None:
        return buttons[n - 1].get("payload") if 1 <= n <= len(buttons) else None
    for b in buttons:
        title = re.sub(r"[^\w\s$]", " ", fold(str(b.get("title", "")))).strip()
        if title and folded == title:
            return b.get("payload")
    return None
