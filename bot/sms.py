"""What an SMS costs and how replies are shaped to cost little on a basic phone.

GSM 03.38 ("GSM-7") packs 160 septets into one SMS, or 153 per part once a message is split (the rest of
each part carries the concatenation header). Characters of the extension table (^ { } \\ [ ~ ] | and the
euro sign) take two septets. One character outside GSM-7, a curly quote, an emoji or an "á", switches the
whole message to UCS-2: 70 UTF-16 units, or 67 per part. Twilio refuses bodies over 1,600 characters.

Why Spanish keeps its accents where it can: GSM-7 has ñ Ñ é É ü Ü ¿ ¡ (and à è ì ò ù), so "año", "qué"
and "¿Cuántos?" keep what matters. It lacks á í ó ú. Inside a word, dropping the accent changes no
meaning a reader would miss ("número" -> "numero", "días hábiles" -> "dias habiles"), so it is dropped, as
Spanish texters do. On the LAST letter of a word it does: "sí" would become "si" ("if"), "guardó" ("it
kept") "guardo" ("I keep"), "llamará" ("will call") "llamara", "está" "esta", "más" "mas". There the
grave accent GSM-7 has stands in ("sì", "guardò", "llamarà", "està", "màs"): the word keeps its meaning and
the message stays in GSM-7 at half the cost of UCS-2. Two short words get the same treatment: "más"
("màs", not "mas", "but") and "aún" ("aùn"). Capitals Á Í Ó Ú have no GSM-7 form and lose the
accent. The web chat has no such limit and shows every text with its own accents.

How replies are shaped: every text is folded to GSM-7, then the texts of one reply are packed into as few
<Message> bodies as possible, each at most BODY_PARTS segments (cut at paragraph, line, then word
boundaries, counted in septets, not characters), so no body pays for a part it barely uses: two parts hold
306 septets, not 320.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

# Basic set: one septet each. The extension set costs two (escape + character).
GSM7_BASIC = frozenset(
    "@\u00a3$\u00a5\u00e8\u00e9\u00f9\u00ec\u00f2\u00c7\n\u00d8\u00f8\r\u00c5\u00e5"
    "\u0394_\u03a6\u0393\u039b\u03a9\u03a0\u03a8\u03a3\u0398\u039e\u00c6\u00e6\u00df\u00c9"
    " !\"#\u00a4%&'()*+,-./0123456789:;<=>?"
    "\u00a1ABCDEFGHIJKLMNOPQRSTUVWXYZ\u00c4\u00d6\u00d1\u00dc\u00a7"
    "\u00bfabcdefghijklmnopqrstuvwxyz\u00e4\u00f6\u00f1\u00fc\u00e0"
)
GSM7_EXTENSION = frozenset("^{}\\[~]|\u20ac\f")

GSM7_SINGLE, GSM7_PART = 160, 153
UCS2_SINGLE, UCS2_PART = 70, 67
BODY_PARTS = 2  # segments one <Message> body may use
TARGET_CHARS = BODY_PARTS * GSM7_PART  # 306: what a GSM-7 body of two segments holds
MAX_CHARS = 1600  # Twilio's limit for one message body

# Characters that phones garble or GSM-7 lacks, folded to what a basic phone shows.
_FOLD = {
    "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'", "\u00b4": "'", "`": "'",
    "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u2033": '"', "\u00ab": '"', "\u00bb": '"',
    "\u2013": "-", "\u2014": "-", "\u2012": "-", "\u2212": "-", "\u2010": "-", "\u2011": "-",
    "\u2026": "...", "\u00a0": " ", "\u2009": " ", "\u202f": " ", "\u2022": "-", "\u00b7": "-",
    "\t": " ",
    # Acute vowels GSM-7 lacks, inside a word: the plain vowel (at a word's end, see _FINAL_ACUTE).
    "\u00e1": "a", "\u00ed": "i", "\u00f3": "o", "\u00fa": "u",
    "\u00c1": "A", "\u00cd": "I", "\u00d3": "O", "\u00da": "U", "\u00c0": "A", "\u00c8": "E", "\u00cc": "I",
    "\u00d2": "O", "\u00d9": "U",
}


@dataclass(frozen=True)
class Segments:
    encoding: str  # "GSM-7" or "UCS-2"
    units: int  # septets (GSM-7) or UTF-16 code units (UCS-2)
    segments: int

    def __str__(self) -> str:
        return f"{self.segments} segment(s), {self.encoding}, {self.units} units"


def is_gsm7(text: str) -> bool:
    return all(c in GSM7_BASIC or c in GSM7_EXTENSION for c in text)


def segments(text: str) -> Segments:
    """Encoding and number of SMS segments `text` is sent as."""
    if is_gsm7(text):
        units = sum(2 if c in GSM7_EXTENSION else 1 for c in text)
        single, part, encoding = GSM7_SINGLE, GSM7_PART, "GSM-7"
    else:
        units = len(text.encode("utf-16-le")) // 2
        single, part, encoding = UCS2_SINGLE, UCS2_PART, "UCS-2"
    count = 1 if units <= single else -(-units // part)
    return Segments(encoding, units, count)


def _fold_char(c: str) -> str:
    if c in GSM7_BASIC or c in GSM7_EXTENSION:
        return c
    if c in _FOLD:
        return _FOLD[c]
    # Other accented letters (ã, ê, ï...): the base letter, when GSM-7 has it. Emoji and symbols go.
    base = "".join(ch for ch in unicodedata.normalize("NFD", c) if unicodedata.category(ch) != "Mn")
    return base if base and all(ch in GSM7_BASIC for ch in base) else ""


# An acute vowel that ends a word: the grave GSM-7 has keeps the word's meaning (see above).
_FINAL_ACUTE = re.compile(r"[\u00e1\u00ed\u00f3\u00fa](?![^\W\d_])|(?<=\bm)\u00e1(?=s\b)|(?<=\ba)\u00fa(?=n\b)")
_GRAVE = {"\u00e1": "\u00e0", "\u00ed": "\u00ec", "\u00f3": "\u00f2", "\u00fa": "\u00f9"}


def plain_gsm(text: str) -> str:
    """`text` in GSM-7: curly quotes and dashes straightened, á í ó ú at a word's end written à ì ò ù
    and inside a word without the accent, other accents dropped where GSM-7 lacks the letter, emoji
    and symbols removed."""
    text = _FINAL_ACUTE.sub(lambda m: _GRAVE[m.group()], text)
    return "".join(_fold_char(c) for c in text)


def _units(text: str) -> int:
    return segments(text).units


def _split(text: str, limit: int) -> list[str]:
    """Split a long text at paragraph, line, then word boundaries into parts of at most `limit` septets."""
    parts: list[str] = []
    rest = text.strip()
    while _units(rest) > limit:
        # The longest prefix that fits, in characters (extension characters count twice).
        fit, used = 0, 0
        for i, c in enumerate(rest):
            used += 2 if c in GSM7_EXTENSION else 1
            if used > limit:
                break
            fit = i + 1
        cut = max(rest.rfind("\n\n", 0, fit + 1), rest.rfind("\n", 0, fit + 1))
        if cut <= fit // 3:
            cut = rest.rfind(" ", 0, fit + 1)
        if cut <= fit // 3:
            cut = fit
        parts.append(rest[:cut].rstrip())
        rest = rest[cut:].strip()
    if rest:
        parts.append(rest)
    return parts


def shape(texts: list[str], language: str = "en", target: int = TARGET_CHARS) -> list[str]:
    """The bodies to send for a reply made of `texts`: folded to GSM-7, short texts joined, long ones split.

    Each body is at most `target` septets (two segments by default) and never exceeds MAX_CHARS. Order is
    kept, and a numbered menu stays in one body with the question before it whenever it fits. `language`
    is kept for callers; the folding is the same for every language.
    """
    texts = [plain_gsm(t) for t in texts]
    pieces = [p for t in texts for p in _split(t, target)] if target else list(texts)
    bodies: list[str] = []
    for piece in pieces:
        # One line break between joined texts: each starts a line of its own, and a blank line costs a septet.
        if bodies and _units(bodies[-1]) + 1 + _units(piece) <= target:
            bodies[-1] = bodies[-1] + "\n" + piece
        else:
            bodies.append(piece)
    return [b[:MAX_CHARS] for b in bodies if b.strip()]


def cost(bodies: list[str]) -> int:
    """Segments billed for sending `bodies`, one message each."""
    return sum(segments(b).segments for b in bodies)
