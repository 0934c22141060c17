"""The program directory: HSDS 3.0 services in, typed programs out, HSDS back out.

Why validate the whole feed before anything is stored: a directory comes from a 211, a partner platform or
a hand-edited file, and a half-loaded directory would silently send residents to the wrong programs. So
`read_directory` either returns every program or raises `DirectoryError` listing every problem, each naming
the record (where it is in the feed, its id and name) and the field (a JSON path).

`referrals/hsds_feed.py` turns every feed shape (our `{"services": [...]}` file, a service, an organization,
arrays, API pages, a live API, the tabular package) into fully nested services; this module validates them
against the official schema and builds programs. Structured eligibility lives in the optional `x_eligibility`
extension (docs/directory.md); without it, `need_mapping.py` derives it from standard fields, and the
`Directory.report()` says which service got which need and why.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable

from jsonschema import Draft202012Validator, FormatChecker

from referrals import translations as _translations

HERE = Path(__file__).resolve().parent
SERVICE_SCHEMA = HERE / "hsds" / "schema" / "compiled" / "service_with_definitions.json"
EXTENSION_SCHEMA = HERE / "eligibility_extension.schema.json"
EXTENSION = "x_eligibility"
MAX_FILE_BYTES = 20 * 1024 * 1024


class DirectoryError(ValueError):
    """A directory file that cannot be loaded; `problems` lists each one."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        head = "\n".join(f"  - {p}" for p in problems[:50])
        more = f"\n  ... and {len(problems) - 50} more" if len(problems) > 50 else ""
        super().__init__(f"directory rejected, {len(problems)} problem(s):\n{head}{more}")


@dataclass(frozen=True)
class Program:
    """One HSDS service with the facts matching and the conversation need."""

    id: str
    name: str
    organization: str
    description: str
    needs: tuple[str, ...]
    phone: str | None
    url: str | None
    address: str | None
    hours: str | None
    application_process: str | None
    languages: tuple[str, ...]
    min_age: int | None = None
    max_age: int | None = None
    zip_codes: tuple[str, ...] = ()
    max_income_ami_pct: int | None = None
    business_stages: tuple[str, ...] | None = None
    active: bool = True
    accepting_referrals: bool = True
    weekly_capacity: int | None = None
    provider: str = "partner"
    hsds: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)
    # The HSDS assured_date is older than DIRECTORY_STALE_DAYS: residents are told to call first.
    call_first: bool = False
    # Residents' texts in other languages (x_translations): {"es": {"name": ..., "hours": ...}}.
    translations: dict[str, dict[str, str]] = field(default_factory=dict, compare=False, repr=False)

    def text(self, key: str, language: str) -> str | None:
        """`name`, `description`, `hours` or `organization` in `language`, else the directory's own."""
        return self.translations.get(language, {}).get(key) or getattr(self, key)


def assured_too_long_ago(hsds: dict[str, Any], max_age_days: int, today: date | None = None) -> bool:
    """True when the service's `assured_date` (the last time someone checked it) is older than the limit.

    A service without an assured_date is not flagged: most feeds leave it out, and a warning on every
    program would teach residents to ignore it.
    """
    raw = hsds.get("assured_date")
    if not isinstance(raw, str):
        return False
    try:
        assured = date.fromisoformat(raw[:10])
    except ValueError:
        return False
    return ((today or date.today()) - assured).days > max_age_days


@lru_cache(maxsize=1)
def _validators() -> tuple[Draft202012Validator, Draft202012Validator]:
    service = json.loads(SERVICE_SCHEMA.read_text())
    extension = json.loads(EXTENSION_SCHEMA.read_text())
    checker = FormatChecker()
    return Draft202012Validator(service, format_checker=checker), Draft202012Validator(
        extension, format_checker=checker
    )


def _path(error_path: Iterable[Any]) -> str:
    out = ""
    for part in error_path:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out.lstrip(".") or "(service)"


def _record(label: str | int, raw: Any) -> str:
    label = f"services[{label}]" if isinstance(label, int) else label
    if isinstance(raw, dict):
        return f"{label} (id={raw.get('id', '?')!s}, name={str(raw.get('name', '?'))[:60]!r})"
    return label


@dataclass
class Directory:
    """A validated directory: the programs, where each program's needs came from, and the feed's notes."""

    programs: list[Program]
    eligibility: list[dict[str, Any]]
    kind: str = "directory"
    partial: bool = False
    notes: list[str] = field(default_factory=list)
    source: str = ""

    def report(self) -> str:
        """The load report: which service got which need and why, and which could not be placed."""
        placed = [(p, e) for p, e in zip(self.programs, self.eligibility) if p.needs]
        unplaced = [(p, e) for p, e in zip(self.programs, self.eligibility) if not p.needs]
        lines = [f"{self.source}: {FEED_KINDS.get(self.kind, self.kind)}; {len(self.programs)} valid service(s)",
                 f"  placed with a need: {len(placed)}; could not be placed: {len(unplaced)}"]
        lines += [f"  note: {n}" for n in self.notes]
        if unplaced:
            lines.append("  could not be placed (loaded, but never offered to residents until the feed or the "
                         "need mapping gives them a need):")
            for p, e in unplaced:
                lines.append(f"  - {p.id} {p.name[:60]!r}: " + "; ".join(e.get("why") or ["no needs"]))
        if placed:
            lines.append("  placed:")
            for p, e in placed:
                lines.append(f"  - {p.id} {p.name[:60]!r}: {', '.join(p.needs)}")
                lines += [f"      {w}" for w in e.get("why") or ()]
        return "\n".join(lines)


FEED_KINDS = {
    "directory": "a directory file (services array)",
    "service": "one HSDS 3.0 service",
    "organization": "one HSDS 3.0 organization with its services",
    "service_at_location": "one HSDS 3.0 service_at_location",
    "array": "an array of HSDS 3.0 records",
    "page": "one page of an HSDS 3.0 API listing",
    "pages": "consecutive pages of an HSDS 3.0 API listing",
    "api": "a live HSDS 3.0 API",
    "tabular": "an HSDS 3.0 tabular data package",
}


def extension_eligibility(ext: dict[str, Any]) -> dict[str, Any]:
    return {**ext, "source": EXTENSION, "why": [f"{n}: listed in {EXTENSION}.needs" for n in ext["needs"]]}


def parse_feed(feed: Any, mapping: Any = None) -> Directory:
    """Validate every service of a feed (hsds_feed.Feed) and build programs, or raise DirectoryError.

    Services with `x_eligibility` use it (validated against our extension schema); the others get their
    needs and limits from standard fields through the need mapping (referrals/need_mapping.py).
    """
    from referrals.need_mapping import derive_eligibility, load_mapping

    records = feed.services
    if not records and not feed.problems:
        raise DirectoryError(["services: the array is empty; a directory needs at least one service"])
    service_v, ext_v = _validators()
    problems: list[str] = list(feed.problems)
    seen: dict[str, str] = {}
    for label, raw in records:
        where = _record(label, raw)
        if not isinstance(raw, dict):
            problems.append(f"{where}: a service must be an object")
            continue
        for err in sorted(service_v.iter_errors(raw), key=lambda e: list(e.absolute_path)):
            problems.append(f"{where}: field {_path(err.absolute_path)}: {err.message[:200]}")
        ext = raw.get(EXTENSION)
        if ext is not None:
            for err in ext_v.iter_errors(ext):
                problems.append(
                    f"{where}: field {EXTENSION}{('.' + _path(err.absolute_path)) if err.absolute_path else ''}:"
                    f" {err.message[:200]}"
                )
        problems.extend(_translations.problems(raw, where))
        sid = raw.get("id")
        if isinstance(sid, str):
            if sid in seen:
                problems.append(f"{where}: field id: duplicate of {seen[sid]}")
            seen[sid] = label if isinstance(label, str) else f"services[{label}]"
        org = raw.get("organization")
        if isinstance(org, dict) and raw.get("organization_id") not in (None, org.get("id")):
            problems.append(f"{where}: field organization_id: does not match organization.id")
        for key in ("phones", "schedules", "languages", "service_at_locations"):
            children = raw.get(key)
            for j, child in enumerate(children if isinstance(children, list) else []):
                if isinstance(child, dict) and child.get("service_id") not in (None, sid):
                    problems.append(f"{where}: field {key}[{j}].service_id: does not match the service id")
    if problems:
        raise DirectoryError(problems)
    if mapping is None or isinstance(mapping, (str, Path)):
        mapping = load_mapping(mapping)
    programs, eligibility = [], []
    for _, raw in records:
        ext = raw.get(EXTENSION)
        elig = extension_eligibility(ext) if ext is not None else derive_eligibility(raw, mapping)
        programs.append(_program(raw, elig))
        eligibility.append(elig)
    return Directory(programs, eligibility, kind=feed.kind, partial=feed.partial, notes=list(feed.notes))


def parse_directory(document: Any, mapping: Any = None) -> list[Program]:
    """Validate a parsed document of any HSDS shape and build programs, or raise DirectoryError."""
    from referrals.hsds_feed import feed_from_document

    return parse_feed(feed_from_document(document), mapping).programs


def read_directory(sources: Any, mapping: Any = None, *, timeout: float = 10.0, per_page: int = 100) -> Directory:
    """Read (file, files as pages, folder/zip of CSV, or API URL), validate all, and report; see hsds_feed."""
    from referrals.hsds_feed import read_feed

    feed = read_feed(sources, timeout=timeout, per_page=per_page)
    directory = parse_feed(feed, mapping)
    directory.source = ", ".join(str(s) for s in sources) if isinstance(sources, list) else str(sources)
    return directory


def load_directory_file(path: str | Path, mapping: Any = None) -> list[Program]:
    """Read and validate an HSDS directory file; nothing is returned unless all of it is valid."""
    return read_directory(path, mapping).programs


def _first(items: list[dict[str, Any]] | None, key: str) -> Any:
    for item in items or []:
        if item.get(key):
            return item[key]
    return None


def _address(raw: dict[str, Any]) -> str | None:
    for sal in raw.get("service_at_locations") or []:
        loc = sal.get("location") or {}
        for addr in loc.get("addresses") or []:
            parts = [addr.get("address_1"), addr.get("city"), addr.get("postal_code")]
            return ", ".join(p for p in parts if p)
    return None


def _hours(raw: dict[str, Any]) -> str | None:
    """The first schedule description; else the structured opening times of the first schedule that has them."""
    schedules = [s for s in raw.get("schedules") or [] if isinstance(s, dict)]
    described = _first(schedules, "description")
    if described:
        return described
    for s in schedules:
        if s.get("opens_at") and s.get("closes_at"):
            days = str(s.get("byday") or "").replace(",", " ").split()
            names = [DAYS.get(d[-2:].upper(), d) for d in days]
            return (" ".join(names) + " " if names else "") + f"{str(s['opens_at'])[:5]}-{str(s['closes_at'])[:5]}"
    return None


DAYS = {"MO": "Mon", "TU": "Tue", "WE": "Wed", "TH": "Thu", "FR": "Fri", "SA": "Sat", "SU": "Sun"}


def _phone(raw: dict[str, Any]) -> str | None:
    """The service's phone; else one at its locations; else the organization's."""
    found = _first(raw.get("phones"), "number")
    if found:
        return found
    for sal in raw.get("service_at_locations") or []:
        found = _first(sal.get("phones"), "number") or _first((sal.get("location") or {}).get("phones"), "number")
        if found:
            return found
    return _first((raw.get("organization") or {}).get("phones"), "number")


def _program(raw: dict[str, Any], eligibility: dict[str, Any] | None = None) -> Program:
    """A program from a nested service and its eligibility (x_eligibility, or derived when absent)."""
    ext = eligibility if eligibility is not None else raw.get(EXTENSION)
    if ext is None:  # a row stored before eligibility was kept with it: derive with the default mapping
        from referrals.need_mapping import derive_eligibility, default_mapping

        ext = derive_eligibility(raw, default_mapping())
    org = raw.get("organization") or {}
    stages = ext.get("business_stages")
    return Program(
        id=raw["id"],
        name=raw["name"],
        organization=org.get("name") or "",
        description=raw.get("description") or "",
        needs=tuple(ext["needs"]),
        phone=_phone(raw),
        url=raw.get("url"),
        address=_address(raw),
        hours=_hours(raw),
        application_process=raw.get("application_process"),
        languages=tuple(sorted({lang["code"] for lang in raw.get("languages") or [] if lang.get("code")})) or ("en",),
        min_age=raw.get("minimum_age"),
        max_age=raw.get("maximum_age"),
        zip_codes=tuple(ext.get("zip_codes") or ()),
        max_income_ami_pct=ext.get("max_income_ami_pct"),
        business_stages=tuple(stages) if stages else None,
        active=raw.get("status") == "active",
        accepting_referrals=bool(ext.get("accepting_referrals", True)),
        weekly_capacity=ext.get("weekly_referral_capacity"),
        provider=ext.get("provider", "partner"),
        hsds=raw,
        translations=_translations.translations(raw),
    )


def export_document(programs: Iterable[Program], publisher: str) -> dict[str, Any]:
    """The HSDS document for programs (each service exactly as loaded, extension included)."""
    return {"hsds_version": "3.0", "publisher": publisher, "services": [p.hsds for p in programs]}


def load_neighborhoods(path: str | Path) -> dict[str, str]:
    """ZIP code -> neighborhood name, from a zip,neighborhood CSV."""
    with open(path, newline="", encoding="utf-8") as fh:
        return {row["zip"].strip(): row["neighborhood"].strip() for row in csv.DictReader(fh)}
