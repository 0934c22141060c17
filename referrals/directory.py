"""The program directory: Open Referral HSDS 3.0 JSON in, typed programs out, HSDS back out.

Why validate the whole file before anything is stored: a directory is edited by hand or exported from
another system, and a half-loaded directory would silently send residents to the wrong programs. So
`load_directory_file` either returns every program or raises `DirectoryError` listing every problem,
each naming the record (service id and name) and the field (a JSON path).

The file is `{"hsds_version": "3.0", "publisher": ..., "services": [service, ...]}` where each service
is a fully nested HSDS 3.0 service (organization, phones, schedules, languages, service_at_locations).
Structured eligibility lives in the `x_eligibility` extension property (docs/directory.md); HSDS allows
additional properties, so the file still validates as HSDS.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
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
    # Residents' texts in other languages (x_translations): {"es": {"name": ..., "hours": ...}}.
    translations: dict[str, dict[str, str]] = field(default_factory=dict, compare=False, repr=False)

    def text(self, key: str, language: str) -> str | None:
        """`name`, `description`, `hours` or `organization` in `language`, else the directory's own."""
        return self.translations.get(language, {}).get(key) or getattr(self, key)


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


def _record(i: int, raw: Any) -> str:
    if isinstance(raw, dict):
        return f"services[{i}] (id={raw.get('id', '?')!s}, name={str(raw.get('name', '?'))[:60]!r})"
    return f"services[{i}]"


def parse_directory(document: Any) -> list[Program]:
    """Validate a parsed directory document and build programs, or raise DirectoryError."""
    if not isinstance(document, dict) or not isinstance(document.get("services"), list):
        raise DirectoryError(['top level: expected an object with a "services" array'])
    if not document["services"]:
        # Loading an empty file would silently empty the directory residents are matched against.
        raise DirectoryError(["services: the array is empty; a directory needs at least one service"])
    service_v, ext_v = _validators()
    problems: list[str] = []
    seen: dict[str, int] = {}
    for i, raw in enumerate(document["services"]):
        where = _record(i, raw)
        if not isinstance(raw, dict):
            problems.append(f"{where}: a service must be an object")
            continue
        for err in sorted(service_v.iter_errors(raw), key=lambda e: list(e.absolute_path)):
            problems.append(f"{where}: field {_path(err.absolute_path)}: {err.message[:200]}")
        ext = raw.get(EXTENSION)
        if ext is None:
            problems.append(f"{where}: field {EXTENSION}: missing (needs, accepting_referrals required)")
        else:
            for err in ext_v.iter_errors(ext):
                problems.append(
                    f"{where}: field {EXTENSION}{('.' + _path(err.absolute_path)) if err.absolute_path else ''}:"
                    f" {err.message[:200]}"
                )
        problems.extend(_translations.problems(raw, where))
        sid = raw.get("id")
        if isinstance(sid, str):
            if sid in seen:
                problems.append(f"{where}: field id: duplicate of services[{seen[sid]}]")
            seen[sid] = i
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
    return [_program(raw) for raw in document["services"]]


def load_directory_file(path: str | Path) -> list[Program]:
    """Read and validate an HSDS directory file; nothing is returned unless all of it is valid."""
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise DirectoryError([f"{path}: cannot read ({exc.strerror})"]) from None
    if size > MAX_FILE_BYTES:
        raise DirectoryError([f"{path}: {size} bytes is larger than the {MAX_FILE_BYTES} byte limit"])
    try:
        document = json.loads(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise DirectoryError([f"{path}: not UTF-8 text (byte {exc.start})"]) from None
    except json.JSONDecodeError as exc:
        raise DirectoryError([f"{path}: not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"]) from None
    return parse_directory(document)


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


def _program(raw: dict[str, Any]) -> Program:
    ext = raw[EXTENSION]
    org = raw.get("organization") or {}
    phones = raw.get("phones") or []
    schedules = raw.get("schedules") or []
    stages = ext.get("business_stages")
    return Program(
        id=raw["id"],
        name=raw["name"],
        organization=org.get("name") or "",
        description=raw.get("description") or "",
        needs=tuple(ext["needs"]),
        phone=_first(phones, "number"),
        url=raw.get("url"),
        address=_address(raw),
        hours=_first(schedules, "description"),
        application_process=raw.get("application_process"),
        languages=tuple(sorted({l["code"] for l in raw.get("languages") or [] if l.get("code")})) or ("en",),
        min_age=raw.get("minimum_age"),
        max_age=raw.get("maximum_age"),
        zip_codes=tuple(ext.get("zip_codes") or ()),
        max_income_ami_pct=ext.get("max_income_ami_pct"),
        business_stages=tuple(stages) if stages else None,
        active=raw.get("status") == "active",
        accepting_referrals=bool(ext["accepting_referrals"]),
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
