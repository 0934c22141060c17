"""What an SMS costs and how replies are shaped to fit a basic phone.

GSM 03.38 ("GSM-7") packs 160 characters into one SMS, or 153 per part once a message is split
(the rest of each part carries the concatenation header). One character outside GSM-7, a curly quote
or an emoji, switches the whole message to UCS-2: 70 characters, or 67 per part. Twilio refuses
bodies over 1,600 characters. So English replies are written in GSM-7 (`plain_gsm` folds what slips
in), each <Message> aims for at most 320 characters, and nothing ever exceeds 1,600.
"""

from __future__ import annotations

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

TARGET_CHARS = 320  # two GSM-7 parts: what a reply aims for
MAX_CHARS = 1600  # Twilio's limit for one message body

# Characters that phones garble, folded to what a basic phone shows.
_FOLD = {
    "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'",
    "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u2033": '"',
    "\u2013": "-", "\u2014": "-", "\u2012": "-", "\u2212": "-", "\u2010": "-", "\u2011": "-",
    "\u2026": "...", "\u00a0": " ", "\u2009": " ", "\u202f": " ", "\u2022": "-", "\u00b7": "-",
    "\t": " ", "\u00e1": "a", "\u00ed": "i", "\u00f3": "o", "\u00fa": "u", "\u00c1": "A", "\u00cd": "I",
    "\u00d3": "O", "\u00da": "U",
}


@dataclass(frozen=True)
class Segments:
    encoding: str  # "GSM-7" or "UCS-2"
    units: int  # septets (GSM-7) or UTF-16 code units (UCS-2)
    segments: int

    def __str__(self) -> str:
        return f"{self.segments} segment(s), {self.encoding}, {self.units} units"


def segments(text: str) -> Segments:
    """Encoding and number of SMS segments `text` is sent as."""
    if all(c in GSM7_BASIC or c in GSM7_EXTENSION for c in text):
        units = sum(2 if c in GSM7_EXTENSION else 1 for c in text)
        single, part, encoding = 160, 153, "GSM-7"
    else:
        units = len(text.encode("utf-16-le")) // 2
        single, part, encoding = 70, 67, "UCS-2"
    count = 1 if units <= single else -(-units // part)
    return Segments(encoding, units, count)


def plain_gsm(text: str) -> str:
    """`text` folded to the GSM-7 basic set: curly quotes, dashes and accents a phone would garble, emoji
    and other symbols dropped. Used on English replies, where nothing is lost."""
    out = []
    for c in text:
        c = _FOLD.get(c, c)
        out.append("".join(ch for ch in c if ch in GSM7_BASIC))
    return "".join(out)


def _split(text: str, limit: int) -> list[str]:
    """Split a long text at paragraph, line, then word boundaries into parts of at most `limit`."""
    parts: list[str] = []
    rest = text.strip()
    while len(rest) > limit:
        cut = max(rest.rfind("\n\n", 0, limit), rest.rfind("\n", 0, limit))
        if cut <= limit // 3:
            cut = rest.rfind(" ", 0, limit)
        if cut <= limit // 3:
            cut = limit
        parts.append(rest[:cut].rstrip())
        rest = rest[cut:].strip()
    if rest:
        parts.append(rest)
    return parts


def shape(texts: list[str], language: str = "en", target: int = TARGET_CHARS) -> list[str]:
    """The bodies to send for a reply made of `texts`: short texts joined, long ones split.

    Each body aims for `target` characters (two segments) and never exceeds MAX_CHARS. Order is kept,
    and a numbered menu stays in one body with the question before it whenever it fits.
    """
    # Every language: GSM-7 has ñ, é, ü, ¿ and ¡, so Spanish keeps them; á, í, ó, ú become a, i, o, u
    # rather than turning the whole reply into UCS-2 (70 characters a segment instead of 160).
    texts = [plain_gsm(t) for t in texts]
    pieces = [p for t in texts for p in _split(t, target)] if target else list(texts)
    bodies: list[str] = []
    for piece in pieces:
        if bodies and len(bodies[-1]) + 2 + len(piece) <= target:
            bodies[-1] = bodies[-1] + "\n\n" + piece
        else:
            bodies.append(piece)
    return [b[:MAX_CHARS] for b in bodies if b.strip()]
