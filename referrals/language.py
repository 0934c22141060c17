"""English/Spanish detection for short, misspelled texts.

Why our own small classifier: Rasa 3.6 has no language identification, a downloaded model is not an
option on a closed network, and generic detectors are poor on three-word SMS. A multinomial naive
Bayes over words and character trigrams, trained on our own NLU examples (data/nlu/en, data/nlu/es),
knows exactly the vocabulary residents use here. It answers None when a text carries no evidence
("ok", "47105", "1"), so the conversation keeps its current language.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from pathlib import Path
from typing import Iterable, Mapping

import yaml

LANGUAGES = ("en", "es")
SWITCH_WORDS = {
    "english": "en", "ingles": "en", "in english": "en", "en ingles": "en",
    "espanol": "es", "espa\u00f1ol": "es", "spanish": "es", "castellano": "es", "en espanol": "es",
    "en espa\u00f1ol": "es", "in spanish": "es",
}
# The only other words a language request may have ("can we speak english", "mejor en espanol por favor");
# anything else means the language is the topic ("clases de ingles"), not a request to switch.
SWITCH_FILLER = {
    "please", "pls", "plz", "in", "can", "could", "we", "you", "speak", "talk", "text", "me", "i", "do",
    "switch", "to", "only", "ok", "okay", "por", "favor", "porfa", "en", "habla", "hablas", "hable",
    "hablar", "hablo", "quiero", "cambiar", "a", "prefiero", "solo", "mejor", "puede", "puedes", "si",
}
_WORD = re.compile(r"[a-z\u00f1]+")
_PLACEHOLDER = re.compile(r"\[[a-z_]+\]")


def fold(text: str) -> str:
    """Lower-case and strip accents (but keep n-tilde, a strong Spanish signal)."""
    text = text.lower().replace("\u00f1", "\x00")
    text = "".join(c for c in unicodedata.normalize("NFD", text) if unicodedata.category(c) != "Mn")
    return text.replace("\x00", "\u00f1")


def _features(text: str) -> list[str]:
    words = _WORD.findall(fold(_PLACEHOLDER.sub(" ", text)))
    feats = [f"w:{w}" for w in words]
    for w in words:
        padded = f" {w} "
        feats.extend(f"c:{padded[i:i + 3]}" for i in range(len(padded) - 2))
    return feats


class LanguageDetector:
    def __init__(self, examples: Mapping[str, Iterable[str]]):
        self.counts: dict[str, Counter[str]] = {}
        self.totals: dict[str, int] = {}
        vocab: set[str] = set()
        for lang, texts in examples.items():
            c: Counter[str] = Counter()
            for t in texts:
                c.update(_features(t))
            self.counts[lang] = c
            self.totals[lang] = sum(c.values())
            vocab.update(c)
        self.vocab_size = len(vocab) + 1

    @classmethod
    def from_nlu_dir(cls, nlu_dir: str | Path) -> "LanguageDetector":
        """Train from data/nlu/<lang>/*.yml (Rasa training data)."""
        examples: dict[str, list[str]] = {}
        for lang in LANGUAGES:
            texts: list[str] = []
            for f in sorted(Path(nlu_dir, lang).glob("*.yml")):
                for block in (yaml.safe_load(f.read_text()) or {}).get("nlu", []):
                    for line in str(block.get("examples", "")).splitlines():
                        line = line.strip()
                        if line.startswith("- "):
                            texts.append(re.sub(r"\[([^\]]+)\]\([^)]+\)", r"\1", line[2:]))
            examples[lang] = texts
        return cls(examples)

    def scores(self, text: str) -> dict[str, float]:
        """Log-likelihood of the text's known features under each language."""
        feats = [f for f in _features(text) if any(f in c for c in self.counts.values())]
        out = {}
        for lang, c in self.counts.items():
            denom = self.totals[lang] + self.vocab_size
            out[lang] = sum(math.log((c[f] + 1) / denom) for f in feats)
        out["_n"] = float(len(feats))
        return out

    def detect(self, text: str, margin: float = 2.0) -> str | None:
        """'en' or 'es' when the text says which, else None (no evidence, or too close to call)."""
        switch = explicit_switch(text)
        if switch:
            return switch
        s = self.scores(text)
        if s.pop("_n") < 3:
            return None
        (best, b), (_, second) = sorted(s.items(), key=lambda kv: -kv[1])[:2]
        return best if b - second >= margin else None


def explicit_switch(text: str) -> str | None:
    """'english' / 'espanol' and the like, alone or nearly alone: the resident picks the language."""
    folded = " ".join(_WORD.findall(fold(text)))
    words = folded.split()
    if not words or len(words) > 4:
        return None
    for phrase, lang in sorted(SWITCH_WORDS.items(), key=lambda kv: -len(kv[0])):
        if phrase in folded:
            rest = f" {folded} ".replace(f" {phrase} ", " ").split()
            return lang if all(w in SWITCH_FILLER for w in rest) else None
    return None
