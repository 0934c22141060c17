"""What matching needs, derived from standard HSDS fields when a service has no `x_eligibility`.

A city's feed usually comes from its 211 or a partner platform and has never heard of our extension. So the
needs come from the service's taxonomy terms through a mapping the city can edit (CSV or YAML of taxonomy
codes and term names -> our needs; `referrals/data/need_mapping.csv` is the default), and the rest from
standard fields: ages from `minimum_age`/`maximum_age` (read by `directory._program` as for any service),
ZIP codes from `service_areas`, an income limit from `eligibility_description`. Every decision is kept as a
plain-English reason, because the load report must say which service got which need and why.

Why conservative: a wrong restriction hides a program from a resident who qualifies, a missing one only
ranks it lower. So ZIP codes are taken only from a service area that is nothing but a list of ZIP codes,
and an income limit only from an explicit "N% of AMI" phrase.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from referrals.needs import NEEDS

DEFAULT_MAPPING = Path(__file__).resolve().parent / "data" / "need_mapping.csv"
MAPPABLE_NEEDS = tuple(n for n in NEEDS if n != "out_of_scope")
ZIP_LIST = re.compile(r"^\s*\d{5}(?:-\d{4})?(?:\s*[,;\s]\s*\d{5}(?:-\d{4})?)*\s*$")
AMI_LIMIT = re.compile(
    r"(\d{1,3})\s*%\s*(?:or\s+(?:less|below)\s+)?(?:of\s+)?(?:the\s+)?(?:AMI\b|area\s+median\s+income)", re.I)


class MappingError(ValueError):
    """A need mapping file that cannot be used; `problems` names each line."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("need mapping rejected:\n" + "\n".join(f"  - {p}" for p in problems))


@dataclass(frozen=True)
class Rule:
    taxonomy: tuple[str, ...]  # lower-cased alternatives; empty means any taxonomy
    match: str  # "code" or "name"
    value: str
    need: str
    note: str
    where: str  # "need_mapping.csv line 7", for the report

    def applies_to_taxonomy(self, taxonomy_names: str) -> bool:
        return not self.taxonomy or any(t in taxonomy_names for t in self.taxonomy)


@dataclass(frozen=True)
class NeedMapping:
    rules: tuple[Rule, ...]
    source: str

    def needs_for_term(self, term: dict[str, Any]) -> list[tuple[str, str]]:
        """(need, why) for one taxonomy term: the longest matching code prefix, plus any name rule."""
        code = str(term.get("code") or "").strip().upper()
        name = _fold(str(term.get("name") or ""))
        detail = term.get("taxonomy_detail") if isinstance(term.get("taxonomy_detail"), dict) else {}
        taxonomy_names = _fold(f"{term.get('taxonomy') or ''} | {detail.get('name') or ''}")
        label = f"taxonomy term {term.get('code') or '-'} {str(term.get('name') or '')!r}"
        out: list[tuple[str, str]] = []
        code_hits = [r for r in self.rules if r.match == "code" and code and _prefix(code, r.value.upper())
                     and r.applies_to_taxonomy(taxonomy_names)]
        if code_hits:
            longest = max(len(r.value) for r in code_hits)
            for r in code_hits:
                if len(r.value) == longest:
                    out.append((r.need, f"{label} has code prefix {r.value} ({r.where})"))
        for r in self.rules:
            if r.match == "name" and name and name == _fold(r.value) and r.applies_to_taxonomy(taxonomy_names):
                out.append((r.need, f"{label} is named {r.value!r} ({r.where})"))
        return out


def _fold(text: str) -> str:
    text = unicodedata.normalize("NFKD", text)
    return " ".join("".join(c for c in text if not unicodedata.combining(c)).lower().split())


def _prefix(code: str, prefix: str) -> bool:
    return code == prefix or (code.startswith(prefix) and code[len(prefix)] in "-. ")


def load_mapping(path: str | Path | None = None) -> NeedMapping:
    """Read a need mapping (CSV with a header, or YAML list of rules); every bad line is named."""
    path = Path(path or DEFAULT_MAPPING)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise MappingError([f"{path}: cannot read ({exc})"]) from None
    if path.suffix.lower() in (".yml", ".yaml"):
        try:
            doc = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise MappingError([f"{path}: not valid YAML ({str(exc).splitlines()[0]})"]) from None
        rows = doc.get("rules") if isinstance(doc, dict) else doc
        if not isinstance(rows, list):
            raise MappingError([f"{path}: expected a list of rules (or a 'rules:' list)"])
        numbered = [(f"{path.name} rule {i + 1}", r) for i, r in enumerate(rows)]
    else:
        lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
        reader = csv.DictReader(io.StringIO("\n".join(lines)))
        missing = {"match", "value", "need"} - set(reader.fieldnames or ())
        if missing:
            raise MappingError([f"{path}: header must have taxonomy,match,value,need,note "
                                f"(missing {', '.join(sorted(missing))})"])
        numbered = [(f"{path.name} rule {i + 1}", r) for i, r in enumerate(reader)]
    rules, problems = [], []
    for where, row in numbered:
        if not isinstance(row, dict):
            problems.append(f"{where}: expected taxonomy, match, value, need, note")
            continue
        match = str(row.get("match") or "").strip().lower()
        value = str(row.get("value") or "").strip()
        need = str(row.get("need") or "").strip()
        if match not in ("code", "name"):
            problems.append(f"{where}: match must be 'code' or 'name', not {match!r}")
        if not value:
            problems.append(f"{where}: value is empty")
        if need not in MAPPABLE_NEEDS:
            problems.append(f"{where}: need {need!r} is not one of {', '.join(MAPPABLE_NEEDS)}")
        taxonomy = tuple(_fold(t) for t in str(row.get("taxonomy") or "").split("|") if t.strip())
        rules.append(Rule(taxonomy, match, value, need, str(row.get("note") or "").strip(), where))
    if problems:
        raise MappingError(problems)
    if not rules:
        raise MappingError([f"{path}: no rules"])
    return NeedMapping(tuple(rules), str(path))


@lru_cache(maxsize=1)
def default_mapping() -> NeedMapping:
    return load_mapping(DEFAULT_MAPPING)


def taxonomy_terms(service: dict[str, Any]) -> list[dict[str, Any]]:
    """The taxonomy terms attached to a service through its attributes (nested HSDS 3.0)."""
    terms = []
    for attribute in service.get("attributes") or []:
        if isinstance(attribute, dict) and isinstance(attribute.get("taxonomy_term"), dict):
            terms.append(attribute["taxonomy_term"])
    return terms


def _zip_codes(service: dict[str, Any]) -> tuple[list[str], list[str]]:
    zips: list[str] = []
    why: list[str] = []
    for i, area in enumerate(service.get("service_areas") or []):
        if not isinstance(area, dict):
            continue
        for key in ("extent", "name"):
            value = area.get(key)
            if key == "extent" and area.get("extent_type") not in (None, "text"):
                continue
            if isinstance(value, str) and ZIP_LIST.match(value):
                found = [z[:5] for z in re.findall(r"\d{5}(?:-\d{4})?", value)]
                zips.extend(z for z in found if z not in zips)
                why.append(f"ZIP codes {', '.join(found)} from service_areas[{i}].{key}")
                break
    return zips, why


def derive_eligibility(service: dict[str, Any], mapping: NeedMapping) -> dict[str, Any]:
    """The x_eligibility-shaped facts for a service without the extension, with the reasons (`why`)."""
    needs: list[str] = []
    why: list[str] = []
    for term in taxonomy_terms(service):
        for need, reason in mapping.needs_for_term(term):
            if need not in needs:
                needs.append(need)
            why.append(f"{need}: {reason}")
    zips, zip_why = _zip_codes(service)
    why.extend(zip_why)
    ami = None
    text = service.get("eligibility_description")
    if isinstance(text, str):
        m = AMI_LIMIT.search(text)
        if m and 1 <= int(m.group(1)) <= 500:
            ami = int(m.group(1))
            why.append(f"income limit {ami}% of AMI from eligibility_description ({m.group(0)!r})")
    if service.get("minimum_age") is not None or service.get("maximum_age") is not None:
        why.append(f"ages {service.get('minimum_age', 0)}-{service.get('maximum_age', 'any')} "
                   "from minimum_age/maximum_age")
    if not needs:
        terms = taxonomy_terms(service)
        listed = "; ".join(f"code {str(t.get('code') or '')!r} name {str(t.get('name') or '')!r}"
                           for t in terms[:5])
        why.insert(0, "no taxonomy term maps to a need in " + Path(mapping.source).name
                   + (f" (terms: {listed})" if terms else " (the service has no taxonomy terms)"))
    return {"needs": needs, "zip_codes": zips, "max_income_ami_pct": ami, "accepting_referrals": True,
            "source": "derived", "why": why}

