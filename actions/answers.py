"""Turning a resident's free-text answer into a slot value (pure functions, tested on their own).

Buttons send payloads like `/inform{"choice":"25_54"}`; residents who type instead write "25", "im 34",
"tengo 52 anos", "eastside", "47105", "no tengo negocio". Each parser returns the canonical value or
None when it cannot tell, and the form asks again.
"""

from __future__ import annotations

import re

from referrals.language import fold
from referrals.matching import AGE_BANDS, BUSINESS_STAGES, INCOME_BANDS

UNKNOWN = "unknown"
_DECLINE = re.compile(r"\b(prefer not|rather not|no (quiero|deseo) decir|prefiero no|skip|pass|no se|dont know)\b")


def parse_zip(text: str, neighborhoods: dict[str, str]) -> tuple[str, str | None] | None:
    """(zip, neighborhood) from a ZIP code or a neighborhood name; neighborhood None outside the city."""
    m = re.search(r"\b(\d{5})(?:-\d{4})?\b", text)
    if m:
        return m.group(1), neighborhoods.get(m.group(1))
    folded = " " + " ".join(re.findall(r"[a-z0-9\u00f1]+", fold(text))) + " "
    for zip_code, name in sorted(neighborhoods.items(), key=lambda kv: -len(kv[1])):
        key = " " + " ".join(re.findall(r"[a-z0-9\u00f1]+", fold(name))) + " "
        if key in folded:
            return zip_code, name
    return None


def parse_age_band(text: str) -> str | None:
    if text in AGE_BANDS or text == UNKNOWN:
        return text
    folded = fold(text)
    if _DECLINE.search(folded):
        return UNKNOWN
    m = re.search(r"\b(\d{1,3})\b", folded)
    if not m:
        return None
    age = int(m.group(1))
    if not 10 <= age <= 120:
        return None
    for band, (low, high) in AGE_BANDS.items():
        if low <= age <= high:
            return band
    return "under_18" if age < 18 else None


def parse_income_band(text: str) -> str | None:
    if text in INCOME_BANDS or text == UNKNOWN:
        return text
    folded = fold(text).replace(",", "")
    if _DECLINE.search(folded):
        return UNKNOWN
    m = re.search(r"\$?\s*(\d+(?:\.\d+)?)\s*(k|mil|thousand)?", folded)
    if not m:
        return None
    amount = float(m.group(1)) * (1000 if m.group(2) else 1)
    if amount < 1000:  # "30" almost always means thousands a year in this question
        amount *= 1000
    for band, (low, high) in INCOME_BANDS.items():
        if low <= amount <= high:
            return band
    return None


def parse_business_stage(text: str) -> str | None:
    if text in BUSINESS_STAGES:
        return text
    folded = fold(text)
    if re.search(r"\b(idea|not yet|no tengo|todavia no|aun no|want to start|quiero (abrir|empezar)|no\b)", folded):
        return "idea"
    if re.search(r"\b(new|nuevo|nueva|just started|acabo de|months?|meses|1 year|un ano|1 ano)\b", folded):
        return "new"
    if re.search(r"\b(years|anos|established|yes|si|ya tengo|i have|tengo)\b", folded):
        return "established"
    return None


def choice_index(text: str, count: int) -> int | None:
    """1-based choice from '2', 'two', 'dos', 'the second'; 0 for a clear no; None if unclear."""
    folded = fold(text).strip()
    # Ordinals first: in "the second one", "second" is the choice and "one" only a pronoun.
    words = {"first": 1, "primero": 1, "second": 2, "segundo": 2, "third": 3, "tercero": 3,
             "one": 1, "uno": 1, "two": 2, "dos": 2, "three": 3, "tres": 3}
    m = re.fullmatch(r"\D*(\d+)\D*", folded)
    if m:
        n = int(m.group(1))
        return n if 0 <= n <= count else None
    for word, n in words.items():
        if re.search(rf"\b{word}\b", folded) and n <= count:
            return n
    if re.search(r"\b(no|nope|none|ninguno|ninguna|not now|ahora no|no thanks|no gracias)\b", folded):
        return 0
    return None
