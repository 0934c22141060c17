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
    # A letter O typed for a zero ("471O5", "4710o") is still a ZIP code: at least 3 digits, only O's besides.
    text = re.sub(r"\b(?=[0-9oO]{5}\b)(?=(?:[oO]*[0-9]){3})[0-9oO]{5}\b", lambda z: re.sub("[oO]", "0", z.group()), text)
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
    words = {"first": 1, "primero": 1, "primera": 1, "second": 2, "segundo": 2, "segunda": 2, "third": 3,
             "tercero": 3, "tercera": 3, "one": 1, "uno": 1, "two": 2, "dos": 2, "three": 3, "tres": 3}
    if count and re.search(r"\b(last|ultimo|ultima)\b", folded):  # "the last one", "el ultimo"
        return count
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


# --- consents and demographics (asked after a referral) ---------------------------------------

PREFER_NOT = "prefer_not_to_say"
NOT_GIVEN = ""  # asked, but no usable answer after the one retry; reports show it as "Not given"

# OMB SPD 15 (2024 revision) minimum categories, in the standard's order, as the codes the equity
# reports read (referrals/reports/dimensions.py RACE_ETHNICITY_LABELS). Several may be picked.
RACE_ETHNICITY = ("american_indian_alaska_native", "asian", "black_african_american", "hispanic_latino",
                  "middle_eastern_north_african", "native_hawaiian_pacific_islander", "white")
# SPD 15 defines no gender categories: these follow common US survey practice (docs/privacy.md).
GENDERS = ("woman", "man", "another")

_NUMBER_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
                 "uno": 1, "dos": 2, "tres": 3, "cuatro": 4, "cinco": 5, "seis": 6, "siete": 7, "ocho": 8}
_RACE_WORDS = {
    "american_indian_alaska_native": r"american indian|alaska|native american|indigenous|indigena|indio",
    "asian": r"asian|asiatic[oa]",
    "black_african_american": r"black|african american|afro ?american[oa]?|afroamerican[oa]|negr[oa]",
    "hispanic_latino": r"hispanic|hispan[oa]|latin[oaxe]",
    "middle_eastern_north_african": r"middle eastern|north african|arab|medio oriente|norte de africa",
    "native_hawaiian_pacific_islander": r"hawaiian|hawai|pacific islander|islas del pacifico",
    "white": r"white|blanc[oa]",
}
_YES = re.compile(r"\b(yes|yeah|yep|yup|ya|y|sure|ok|okay|of course|si|claro|de acuerdo|esta bien|vale|bueno)\b")
_NO = re.compile(r"\b(no|nope|nah|n|no thanks|no gracias|rather not|prefer not|prefiero que no|never|nunca)\b")
_UNSURE = re.compile(r"\b(not sure|unsure|maybe|no se|tal vez|quizas|depends|depende)\b")
_NOT = re.compile(r"\b(no|not|none|ninguno|ninguna)\b")


def _numbers(folded: str) -> list[int]:
    return [int(n) for n in re.findall(r"\d+", folded)] + [
        _NUMBER_WORDS[w] for w in re.findall(r"[a-z]+", folded) if w in _NUMBER_WORDS]


def parse_yes_no(text: str) -> str | None:
    """"yes" or "no" from a button value, 1 (Yes) or 2 (No), or words in English or Spanish."""
    if text in ("yes", "no"):
        return text
    folded = fold(text).strip()
    if _UNSURE.search(folded):
        return None
    yes, no = bool(_YES.search(folded)), bool(_NO.search(folded))
    if yes != no:
        return "yes" if yes else "no"
    numbers = _numbers(folded)
    if not yes and len(numbers) == 1 and numbers[0] in (1, 2):
        return "yes" if numbers[0] == 1 else "no"
    return None


def parse_race_ethnicity(text: str) -> str | None:
    """Comma-joined codes (in the standard's order), PREFER_NOT, or None when unclear.

    Select-all-that-apply: "1 4", "1,4", "1 and 4", "asian and white" and a button's code all work.
    Number 8 is "Prefer not to say", which cannot be combined with a category.
    """
    if text == PREFER_NOT or text in RACE_ETHNICITY:
        return text
    folded = fold(text)
    if _DECLINE.search(folded):
        return PREFER_NOT
    numbers = _numbers(folded)
    if numbers == [len(RACE_ETHNICITY) + 1]:
        return PREFER_NOT
    if any(not 1 <= n <= len(RACE_ETHNICITY) for n in numbers):
        return None
    picked = {RACE_ETHNICITY[n - 1] for n in numbers}
    picked |= {code for code, words in _RACE_WORDS.items() if re.search(rf"\b({words})\b", folded)}
    if not picked:
        return None
    return ",".join(code for code in RACE_ETHNICITY if code in picked)


def parse_gender(text: str) -> str | None:
    """One of GENDERS, PREFER_NOT, or None when unclear."""
    if text == PREFER_NOT or text in GENDERS:
        return text
    folded = fold(text)
    found = set()
    if re.search(r"\b(non ?binary|non-binary|nb|enby|no binari[oae]|genderqueer|gender ?fluid|agender|"
                 r"two ?spirit|another|other|otro|otra)\b", folded):
        found.add("another")
    elif re.search(r"\b(woman|women|female|girl|lady|mujer|femenin[oa])\b", folded):
        found.add("woman")
    if re.search(r"\b(man|men|male|guy|hombre|masculino|varon)\b", folded):
        found.add("man")
    if len(found) == 1:
        return found.pop()
    if found:
        return None
    if _DECLINE.search(folded):
        return PREFER_NOT
    numbers = _numbers(folded)
    if len(numbers) == 1 and 1 <= numbers[0] <= len(GENDERS) + 1:
        return (GENDERS + (PREFER_NOT,))[numbers[0] - 1]
    if not numbers and _NOT.search(folded):
        return PREFER_NOT
    return None


_CONTACT_NO = re.compile(r"\b(no contact|rather not|prefer not|no thanks|no gracias|prefiero no|no quiero|not now|"
                         r"ahora no|no)\b")


def parse_contact_answer(text: str) -> str | None:
    """"given" (the gateway's word after it sealed a contact), "declined", or None when unclear."""
    if text in ("contact_given", "given"):
        return "given"
    if text == "no_contact":
        return "declined"
    folded = fold(text)
    if _CONTACT_NO.search(folded) or parse_yes_no(text) == "no":
        return "declined"
    return None
