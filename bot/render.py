"""Plain-text rendering of bot messages: buttons become numbered choices, and back.

A basic phone shows no buttons, so "Reply with a number: 1) A job 2) Training..." is how a choice reads
over SMS and in the terminal. A reply of "1", "one"/"uno", "option 3", "the last one", the choice's own
words, or "yes"/"si"/"no" to a yes-or-no choice maps back to the button's payload.

Why some menus are shortened on SMS (every character is paid for): a menu the resident saw on the turn
before is not sent again in full after a misunderstanding ("Reply with a number from 1 to 9"); choices
whose titles the same reply already listed as "1. Name" are referred to, not repeated; and a short menu
(Yes / No) fits on one line.
"""

from __future__ import annotations

import re
from typing import Any

from referrals.language import fold

NUMBER_WORDS = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
    "uno": 1, "dos": 2, "tres": 3, "cuatro": 4, "cinco": 5, "seis": 6, "siete": 7, "ocho": 8, "nueve": 9,
}


LEADS = {
    "en": {"lead": "Reply with a number:", "or": " or ",
           "again": "Reply with a number from 1 to {n}, or tell me in words.",
           "above": "Reply {numbers}"},
    "es": {"lead": "Elija un número:", "or": " o ",
           "again": "Responda con un número del 1 al {n}, o dígamelo con palabras.",
           "above": "Responda {numbers}"},
}
SHORT_TITLE, SHORT_COUNT = 20, 3  # a menu this small fits on one line


def _titles(buttons: list[dict[str, Any]]) -> list[str]:
    return [str(b.get("title", "")) for b in buttons]


def numbered_choices(buttons: list[dict[str, Any]], language: str = "en", listed: int = 0) -> str:
    """The choices as numbered lines; the first `listed` are only referred to (the reply listed them)."""
    words = LEADS.get(language, LEADS["en"])
    items = [f"{i}) {b.get('title', '')}" for i, b in enumerate(buttons, start=1)]
    if listed:
        # "Reply 1, 2 or 3, or 4) No thanks": the numbers of the programs listed above, then the rest.
        numbers = [str(i) for i in range(1, listed + 1)]
        head = ", ".join(numbers[:-1]) + words["or"] + numbers[-1] if listed > 1 else numbers[0]
        rest = items[listed:]
        return words["above"].format(numbers=head) + (", " + words["or"].strip() + " " + ", ".join(rest)
                                                       if rest else "")
    if len(buttons) <= SHORT_COUNT and all(len(t) <= SHORT_TITLE for t in _titles(buttons)):
        # "1) Yes or 2) No": a short menu needs no lead line.
        return ", ".join(items[:-1]) + words["or"] + items[-1] if len(items) > 1 else items[0]
    return words["lead"] + "\n" + "\n".join(items)


def _listed_before(buttons: list[dict[str, Any]], before: str) -> int:
    """How many leading choices the text before them already lists as "1. Title", "2. Title"..."""
    n = 0
    for i, title in enumerate(_titles(buttons), start=1):
        if title and f"{i}. {title}" in before:
            n = i
        else:
            break
    return n


def render_plain(messages: list[dict[str, Any]], language: str = "en",
                 previous: list[dict[str, Any]] | None = None) -> list[str]:
    """Each bot message as plain text, buttons appended as numbered choices.

    `previous` are the choices shown on the turn before: the same menu again is only referred to.
    """
    out: list[str] = []
    for m in messages:
        text = (m.get("text") or "").strip()
        buttons = m.get("buttons") or []
        if buttons:
            if previous and _titles(buttons) == _titles(previous) and len(buttons) > SHORT_COUNT:
                menu = LEADS.get(language, LEADS["en"])["again"].format(n=len(buttons))
            else:
                menu = numbered_choices(buttons, language, listed=_listed_before(buttons, "\n".join(out)))
            text = (text + "\n" if text else "") + menu
        if text:
            out.append(text)
    return out


YES = {"yes", "y", "yeah", "yep", "yup", "ya", "sure", "ok", "okay", "please", "yes please", "yes pls",
       "yes plz", "si", "s", "sip", "claro", "si por favor", "si porfa", "si claro", "por favor", "ok si",
       "si gracias", "yes thanks", "yes thank you", "of course", "por supuesto", "dale", "va"}
NO = {"no", "n", "nope", "nah", "no thanks", "no thank you", "not now", "no gracias", "no por ahora",
      "ahorita no", "ahora no", "no gracias estoy bien", "no im ok", "no im fine"}
_YES_TITLES = ("yes", "si")
_LAST = {"last", "the last", "last one", "the last one", "ultimo", "ultima", "el ultimo", "la ultima",
         "la ultima opcion", "the last option"}
_FIRST = {"first", "the first", "first one", "the first one", "primero", "primera", "el primero", "la primera"}


def first_word(title: str) -> str:
    """The first word of a title, folded: 'yes', 'si', 'no'..."""
    words = re.sub(r"[^\w\s]", " ", fold(title)).split()
    return words[0] if words else ""


def _yes_no(folded: str, buttons: list[dict[str, Any]]) -> str | None:
    """"yes" / "si" / "no" to a choice whose options start with Yes/Si and No."""
    if folded not in YES and folded not in NO:
        return None
    firsts = [first_word(t) for t in _titles(buttons)]
    wanted = _YES_TITLES if folded in YES else ("no",)
    hits = [b for b, first in zip(buttons, firsts) if first in wanted]
    return hits[0].get("payload") if len(hits) == 1 else None


def match_choice(text: str, buttons: list[dict[str, Any]]) -> str | None:
    """The payload the resident chose with "2", "two", "dos", "option 2", "the last one", the choice's
    title, or yes/no to a yes-or-no choice; else None."""
    if not buttons:
        return None
    folded = fold(text).strip()
    folded = re.sub(r"[^\w\s$]", " ", folded)
    folded = re.sub(r"\s+", " ", folded).strip()
    m = re.fullmatch(r"(?:#|no|number|numero|num|option|opcion|choice|the|la|el|pick|elijo|escojo|quiero la|"
                     r"quiero el|i want|i pick|i choose)?\s*(?:#|no|number|numero|option|opcion)?\s*(\d{1,2})",
                     folded)
    words = re.sub(r"^(?:option|opcion|number|numero|the|la|el) ", "", folded)
    n = int(m.group(1)) if m else NUMBER_WORDS.get(words)
    if n is None and folded in _LAST:
        # "The last one" of a list ending in "No thanks" is the last program, not the way out.
        n = len(buttons) - 1 if len(buttons) > 2 and first_word(_titles(buttons)[-1]) == "no" else len(buttons)
    if n is None and folded in _FIRST:
        n = 1
    if n is None:
        yes_no = _yes_no(folded, buttons)
        if yes_no:
            return yes_no
    if n is not None:
        return buttons[n - 1].get("payload") if 1 <= n <= len(buttons) else None
    for b in buttons:
        title = re.sub(r"[^\w\s$]", " ", fold(str(b.get("title", "")))).strip()
        if title and folded == title:
            return b.get("payload")
    return None
