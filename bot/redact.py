"""Personal details taken out of a resident's message before it reaches Rasa.

What goes: phone numbers, emails, Social Security numbers, card numbers, bank account and routing
numbers, street addresses, and any other run of 9 or more digits. Each becomes a typed placeholder:

    [phone_number] [email_address] [ssn_number] [card_number] [bank_account] [street_address] [id_number]

Why this placeholder form: Rasa's WhitespaceTokenizer drops the brackets and keeps `phone_number` as one
token that no ordinary word collides with (unlike "phone" or "ssn", which residents type themselves),
so the NLU, trained on examples that contain the placeholders (data/nlu), still sees that something was
there. A bracketed word without a following "(entity)" is plain text to Rasa's training-data reader, and
the language detector (referrals/language.py) already skips `[lower_case]` words, so a redacted number
never tilts a Spanish message towards English.

What stays, because the dialogue needs it: ZIP codes (47101, 47101-2034), ages ("im 34"), incomes
("$25,000", "25k", "2500 a month", "$1,200/mo"), years, numbered menu replies, times ("3pm", "10:30"),
dates. Hence the rules are shaped, not "every number": a phone needs 10 digits (or 7 with a dash, or
a word such as "call" or "cell" in front), an account number needs a word such as "account" or
"cuenta" in front (a bare 9-digit number is checked as an ABA routing number, else taken for an SSN),
a card number must pass the Luhn check, and an address needs a house number, a street name and a
street suffix (St, Ave, Rd...) or a Spanish "calle"/"avenida", or a phrase such as "i live at".

Rules run in a fixed order on the text, each on what the ones before left: emails first (they may hold
digits), then numbers that a word introduces (SSN, account), then shapes (cards, SSNs, phones), then
addresses, and last the catch-all for long digit runs. Placeholders hold no digits, so no later rule can
match inside one.

Before any rule, `normalize` undoes the usual ways around them (each seen in a review): compatibility
characters (fullwidth digits) become plain ones (NFKC); a digit run written with letters that look like
digits ("555-O1O-2OOO") or with unusual separators ("555_010_2000", "555/010/2000", a card number with
dots, "555 . 010 . 2000") is rewritten with dashes when, so rewritten, it has the shape of a phone, SSN
or card number; and an email address spelled out with spaces ("maria . lopez @ gmail . com") is closed
up. Only those spans change, so dates (12/27/2024), amounts and times are left as they are.

Nothing here logs: `Redaction.counts` (how many of each kind) is the only thing safe to log.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import Callable

PLACEHOLDERS = {
    "phone": "[phone_number]",
    "email": "[email_address]",
    "ssn": "[ssn_number]",
    "card": "[card_number]",
    "bank": "[bank_account]",
    "address": "[street_address]",
    "number": "[id_number]",
}


@dataclass(frozen=True)
class Redaction:
    text: str
    counts: dict[str, int] = field(default_factory=dict)  # kind -> how many were replaced; kinds found only

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def luhn_ok(digits: str) -> bool:
    """The Luhn (mod 10) check every payment card number passes."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def aba_ok(digits: str) -> bool:
    """A valid ABA routing number: 9 digits, a Federal Reserve prefix, and the 3-7-1 checksum."""
    if len(digits) != 9 or not digits.isdigit():
        return False
    prefix = int(digits[:2])
    if not (prefix <= 12 or 21 <= prefix <= 32 or 61 <= prefix <= 72 or prefix == 80):
        return False
    weights = (3, 7, 1) * 3
    return sum(int(d) * w for d, w in zip(digits, weights)) % 10 == 0


# Not inside a word, an amount ($1,200), a decimal (15.50), a date (12/27) or a time (10:30); "tel:555..." is fine.
_NUM_START = r"(?<![\w$\u20ac])(?<!\d[.,/:])"
_NUM_END = r"(?![\w%\u20ac]|[.,/:]\d)"

# --- emails -------------------------------------------------------------------------------------------
# The lookbehinds make each run of name characters one attempt, not one per character (no quadratic time).
_EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)*", re.I)
# Spelled out: "maria at gmail dot com", "juan arroba hotmail punto com". Without a ".com" only "arroba" is
# unambiguous ("i work at comcast" is a job).
_EMAIL_SPELLED = re.compile(
    r"(?<![\w.+-])[\w.+-]+\s*(?:(?:\(at\)|\[at\]|\bat\b|\barroba\b)\s*[\w-]+\s*(?:\.|\(dot\)|\[dot\]|\bdot\b|\bpunto\b)\s*"
    r"(?:com|net|org|edu|gov|us|mx|es)\b|\barroba\s*[\w-]+)", re.I)

# --- numbers introduced by a word ---------------------------------------------------------------------
_SEP_DIGITS = r"\d(?:[ .-]?\d)"  # digits with single spaces, dots or dashes between them
_SSN_WORDS = (r"(?:ssn|ss\s?#|ss\s?no|ss\s?num(?:ber)?|soc(?:ial)?(?:\s+security)?(?:\s+(?:number|num|no|#))?|"
              r"(?:numero\s+de\s+)?seguro\s+social|itin)")
_SSN_INTRO = re.compile(
    rf"\b(?P<intro>{_SSN_WORDS}(?:\s*(?:is|es|:|#|=|-))*\s*)(?P<num>(?<!\d){_SEP_DIGITS}{{8}}){_NUM_END}", re.I)
_SSN_LAST4 = re.compile(
    rf"\b(?P<intro>(?:last\s+(?:4|four)(?:\s+digits)?|ultimos\s+(?:4|cuatro)(?:\s+(?:digitos|numeros))?)\s+"
    rf"(?:of\s+(?:my\s+)?|de\s+(?:mi\s+)?)?{_SSN_WORDS}(?:\s*(?:is|are|es|son|:|#))*\s*)(?P<num>\d{{4}}){_NUM_END}", re.I)
_BANK_WORDS = (r"(?:(?:bank\s+)?(?:account|acct|acc|checking|savings\s+account|routing|aba|rtn)|"
               r"(?:numero\s+de\s+)?(?:cuenta|ruta|ruteo|clabe)(?:\s+bancaria)?)")
_BANK_INTRO = re.compile(
    rf"\b(?P<intro>{_BANK_WORDS}(?:\s*(?:number|num|no\.?|nbr|#|is|es|numero|de|mi|:|=|-))*\s*)"
    rf"(?P<num>(?<!\d){_SEP_DIGITS}{{5,17}}){_NUM_END}", re.I)
_PHONE_WORDS = (r"(?:call|text|txt|phone|cell|cel|celular|mobile|tel|telefono|tel\u00e9fono|number|numero|"
                r"n\u00famero|num|llamame|llame|marcame|textea|reach me at|me at)")
_PHONE7_INTRO = re.compile(
    rf"\b(?P<intro>{_PHONE_WORDS}(?:\s*(?:is|es|:|al|me|at|a))*\s*)(?P<num>(?<!\d)\d{{3}}[ .-]?\d{{4}}){_NUM_END}", re.I)

# --- shapes -------------------------------------------------------------------------------------------
_CARD = re.compile(
    rf"{_NUM_START}(?:\d{{4}}(?P<s>[ -])\d{{4}}(?P=s)\d{{4}}(?P=s)\d{{1,7}}|\d{{4}}[ -]\d{{6}}[ -]\d{{4,5}}|\d{{13,19}})"
    rf"{_NUM_END}")
_SSN_SHAPE = re.compile(rf"{_NUM_START}\d{{3}}(?P<s>[ .-])\d{{2}}(?P=s)\d{{4}}{_NUM_END}")
_PSEP = r"(?:\s?[.-]\s?|\s)?"  # "555-123-4567", "555 - 123 - 4567", "555 123 4567", "5551234567"
_PHONE = re.compile(
    rf"{_NUM_START}(?:\+\s?)?(?:1{_PSEP})?"  # +1 / 1 country code
    rf"(?:\(\s?\d{{3}}\s?\)|\d{{3}}){_PSEP}\d{{3}}{_PSEP}\d{{4}}{_NUM_END}")
_PHONE_SPACED = re.compile(rf"{_NUM_START}(?:\+\s?)?(?:1[ .-])?(?:\d[ .-]){{9}}\d{_NUM_END}")
_PHONE_7 = re.compile(rf"{_NUM_START}\d{{3}}[.-]\d{{4}}{_NUM_END}")
_PHONE_INTL = re.compile(r"(?<![\w$])\+\s?\d{1,3}(?:[\s.-]?\(?\d{1,4}\)?){2,5}(?!\w)")
# Unbroken or dashed runs only: spaced groups are more often two numbers ("47101 47102") than one.
_LONG_DIGITS = re.compile(rf"{_NUM_START}(?!\d{{5}}-\d{{4}}{_NUM_END})\d(?:-?\d){{8,}}{_NUM_END}")

# --- street addresses ---------------------------------------------------------------------------------
_SUFFIX = (r"(?:street|st|avenue|ave|av|boulevard|blvd|road|rd|drive|dr|lane|ln|way|court|ct|place|pl|circle|cir|"
           r"parkway|pkwy|highway|hwy|terrace|ter|trail|trl|square|sq|loop|pike|plaza|plz|alley)")
_DIRECTION = r"(?:n|s|e|w|ne|nw|se|sw|north|south|east|west)"
# Words that are never part of a street name: they mean the number was an age, a count or an amount.
_NOT_NAME = (
    "a an the and or but of in on at to for from by with my your his her our their this that these those is am "
    "are was were be been i im i'm me you he she we they it its have has had need needs want make makes made "
    "work works worked live lived pay paid get got do does did can cant could will would just only more less "
    "than about around over under per each every year years yr yrs yo month months mo week weeks wk day days "
    "hour hours hr hrs min mins minute minutes time times am pm kid kids child children son sons daughter "
    "daughters people person dollar dollars bucks buck k grand job jobs shift shifts way ways other another "
    "same any some good better best easy hard new see saw visit go going went call text claims traffic family "
    "housing eviction small apt apartment unit suite ste rm room bldg lot apto apartamento depto interior "
    "y o de del la las el los en con por para mi mis su sus tu tengo tiene tienen soy es son estoy esta vivo "
    "gano trabajo hace desde ano anos anios mes meses semana semanas dia dias hora horas hijo hijos hija hijas "
    "dolares pesos mil veces que no si"
).split()
_NAME = rf"(?!(?:{'|'.join(map(re.escape, _NOT_NAME))})\b)(?:[a-z\u00e0-\u00ff][a-z\u00e0-\u00ff'.-]*|\d{{1,3}}(?:st|nd|rd|th))"
_UNIT = (r"(?:[\s,]+(?:apt|apartment|unit|suite|ste|rm|room|bldg|lot|trlr|apto|apartamento|depto|departamento|"
         r"interior|int)(?![a-z])\.?\s*#?\s*[a-z0-9-]{1,6}|[\s,]*#\s*[a-z0-9-]{1,6})?")
_HOUSE = rf"{_NUM_START}(?<![#-])\d{{1,6}}(?:-?[a-z])?(?:-\d{{1,5}})?"
_ADDRESS_EN = re.compile(
    rf"{_HOUSE}\s+(?:{_DIRECTION}\.?\s+)?(?:{_NAME}\s+){{0,3}}{_NAME}\s+{_SUFFIX}\b\.?(?:\s+{_DIRECTION}\b\.?)?{_UNIT}",
    re.I)
_ES_STREET = r"(?:calle|c/|avenida|avda|av|camino|carretera|bulevar|boulevard|blvd|privada|callejon|callej\u00f3n|paseo|calzada|cerrada)"
_ADDRESS_ES = re.compile(
    rf"(?:{_HOUSE}\s+)?\b{_ES_STREET}\.?\s+(?:{_NAME}\s+|(?:de|del|la|las|el|los|\d{{1,2}})\s+){{0,4}}"
    rf"(?:#|no\.?|num\.?|n\u00famero|numero)?\s*{_NUM_START}\d{{1,6}}(?:-?[a-z])?\b"
    rf"(?!\s+(?:semanas?|mes|meses|a\u00f1os?|anos?|d\u00edas?|dias?|horas?|hijos?|d\u00f3lares|dolares|pesos|veces)\b){_UNIT}",
    re.I)
_ADDRESS_ES_NUMBER_FIRST = re.compile(
    rf"{_HOUSE}\s+{_ES_STREET}\.?\s+(?:{_NAME}\s+){{0,2}}{_NAME}\b{_UNIT}", re.I)
_ADDRESS_INTRO = re.compile(
    rf"\b(?P<intro>(?:i\s+live\s+at|live\s+at|my\s+address\s+is|address\s*(?:is|:)|mi\s+direcci[o\u00f3]n\s+es|"
    rf"direcci[o\u00f3]n\s*:|vivo\s+en\s+el)\s+)"
    rf"(?P<num>{_NUM_START}(?!\d{{5}}\b)\d{{1,6}}(?:-?[a-z])?\s+(?:{_NAME}\s+){{0,2}}{_NAME}\b{_UNIT})", re.I)
_PO_BOX = re.compile(r"\b(?:p\.?\s?o\.?\s?box|post\s+office\s+box|apartado\s+postal|casilla)\s*#?\s*\d{1,6}\b", re.I)


def _digits(s: str) -> str:
    return re.sub(r"\D", "", s)


# --- normalization before the rules ---------------------------------------------------------------------
_LOOKALIKE = str.maketrans({"O": "0", "o": "0", "I": "1", "l": "1", "|": "1"})
_DIGITISH = "0-9OoIl|"
# A run of digit-like groups joined by separators (or one unbroken group), not inside a word.
_DIGIT_RUN = re.compile(rf"(?<![A-Za-z0-9$\u20ac])[{_DIGITISH}]+(?:[ ._/\-]+[{_DIGITISH}]+)*(?![A-Za-z0-9%\u20ac])")
_PLAIN_SEPARATOR = re.compile(r"^(?: |\.|-)$")
_NUMBER_SHAPES = (  # group lengths that make a phone, SSN or card number
    (3, 3, 4), (1, 3, 3, 4), (3, 4), (3, 2, 4), (4, 4, 4, 4), (4, 6, 5), (4, 6, 4),
    *((4, 4, 4, n) for n in range(1, 8)), *((n,) for n in range(7, 20)),
)
_CARD_SHAPES = {s for s in _NUMBER_SHAPES if len(s) == 4 and s[0] == 4} | {(4, 6, 5), (4, 6, 4)}
_EMAIL_SPACED = re.compile(r"(?<![\w.+-])[\w+-]+(?:\s*\.\s*[\w+-]+)*\s*@\s*[\w-]+(?:\s*\.\s*[\w-]+)+")


def _normal_run(m: re.Match[str]) -> str:
    run = m.group(0)
    groups = re.split(r"[ ._/\-]+", run)
    separators = re.findall(r"[ ._/\-]+", run)
    mapped = [g.translate(_LOOKALIKE) for g in groups]
    if not all(g.isdigit() for g in mapped) or sum(c.isdigit() for c in run) < 4:
        return run
    shape = tuple(len(g) for g in mapped)
    if shape not in _NUMBER_SHAPES:
        return run
    lookalike = any(g != o for g, o in zip(mapped, groups))
    odd_separator = any(not _PLAIN_SEPARATOR.match(s) for s in separators)
    dotted_card = shape in _CARD_SHAPES and "." in separators
    if not (lookalike or odd_separator or dotted_card):
        return run  # the rules read plain forms as they are (and keep "555 1234" without a cue word)
    return "-".join(mapped)


def normalize(text: str) -> str:
    """`text` with look-alike digits, odd separators and spaced-out emails undone (module docstring)."""
    text = unicodedata.normalize("NFKC", text)
    text = _DIGIT_RUN.sub(_normal_run, text)
    return _EMAIL_SPACED.sub(lambda m: re.sub(r"\s+", "", m.group(0)), text)


def _nine(num: str) -> str:
    """Kind of a bare 9-digit number: a routing number when it checks out as one, otherwise an SSN."""
    return "bank" if aba_ok(num) else "ssn"


class _Redactor:
    def __init__(self, text: str):
        self.text = text
        self.counts: dict[str, int] = {}

    def sub(self, pattern: re.Pattern[str], kind: str | Callable[[re.Match[str]], str | None],
            group: str | None = None) -> None:
        """Replace each match (or its `group`) by the placeholder of its kind; a kind function may say None: keep."""
        def repl(m: re.Match[str]) -> str:
            k = kind(m) if callable(kind) else kind
            if k is None:
                return m.group(0)
            self.counts[k] = self.counts.get(k, 0) + 1
            if group is None:
                return PLACEHOLDERS[k]
            start, end = m.span(group)
            return m.group(0)[: start - m.start()] + PLACEHOLDERS[k] + m.group(0)[end - m.start():]
        self.text = pattern.sub(repl, self.text)


def redact(text: str) -> Redaction:
    """`text` with phone numbers, emails, SSNs, card and bank numbers and street addresses replaced by
    typed placeholders (see the module docstring), and how many of each kind were replaced."""
    r = _Redactor(normalize(text or ""))
    r.sub(_EMAIL, "email")
    r.sub(_EMAIL_SPELLED, "email")
    r.sub(_SSN_LAST4, "ssn", "num")
    r.sub(_SSN_INTRO, "ssn", "num")
    r.sub(_BANK_INTRO, "bank", "num")
    r.sub(_PHONE7_INTRO, "phone", "num")
    r.sub(_CARD, lambda m: "card" if luhn_ok(_digits(m.group(0))) else "number")
    r.sub(_SSN_SHAPE, "ssn")
    r.sub(_PHONE_INTL, lambda m: "phone" if 8 <= len(_digits(m.group(0))) <= 15 else None)
    r.sub(_PHONE, "phone")
    r.sub(_PHONE_SPACED, "phone")
    r.sub(_PHONE_7, "phone")
    r.sub(_LONG_DIGITS, lambda m: _nine(_digits(m.group(0))) if len(_digits(m.group(0))) == 9 else "number")
    r.sub(_PO_BOX, "address")
    r.sub(_ADDRESS_EN, "address")
    r.sub(_ADDRESS_ES_NUMBER_FIRST, "address")
    r.sub(_ADDRESS_ES, "address")
    r.sub(_ADDRESS_INTRO, "address", "num")
    return Redaction(r.text, r.counts)
