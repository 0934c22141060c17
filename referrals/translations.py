"""`x_translations`: a service's name, description, hours and organization in other languages, and its
one-line `summary` for program lists (in English too: HSDS 3.0 has no short description).

HSDS 3.0 carries one text per field. A city that has Spanish texts puts them in this extension
property (schema: translations_extension.schema.json), validated with the rest of the directory, so
a typo'd key or an empty name is rejected at load like any other problem. Where a language or a field
is missing, the directory's own text is used: a resident never gets an empty name.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

EXTENSION = "x_translations"
SCHEMA = Path(__file__).resolve().parent / "translations_extension.schema.json"
FIELDS = ("name", "description", "hours", "organization", "summary")


@lru_cache(maxsize=1)
def _validator() -> Draft202012Validator:
    return Draft202012Validator(json.loads(SCHEMA.read_text()))


def problems(raw: dict[str, Any], where: str) -> list[str]:
    """Every problem of a service's `x_translations`, named like the directory's other problems."""
    if EXTENSION not in raw:
        return []
    out = []
    for err in sorted(_validator().iter_errors(raw[EXTENSION]), key=lambda e: list(e.absolute_path)):
        path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err.absolute_path)
        out.append(f"{where}: field {EXTENSION}{path}: {err.message[:200]}")
    return out


def translations(raw: dict[str, Any]) -> dict[str, dict[str, str]]:
    return {lang: dict(texts) for lang, texts in (raw.get(EXTENSION) or {}).items()}
