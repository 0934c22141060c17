"""The directory in the database: apply a feed to the `programs` and `neighborhoods` tables, read it back.

Each function takes a session first and works in the caller's transaction; the caller commits.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from dataclasses import field as dc_field
from datetime import date, datetime, timezone
from typing import Any, Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from referrals.directory import Program, _program, assured_too_long_ago
from referrals.models import Neighborhood, ProgramRow, utcnow


@dataclass
class DirectoryChanges:
    """What a load changed, by service: (id, name) pairs, and the reasons for kept rows."""

    added: list[tuple[str, str]] = dc_field(default_factory=list)
    updated: list[tuple[str, str]] = dc_field(default_factory=list)
    unchanged: list[tuple[str, str]] = dc_field(default_factory=list)
    restored: list[tuple[str, str]] = dc_field(default_factory=list)
    retired: list[tuple[str, str]] = dc_field(default_factory=list)
    kept_newer: list[tuple[str, str, str]] = dc_field(default_factory=list)
    partial: bool = False

    def text(self) -> str:
        lines = [f"changes: {len(self.added)} added, {len(self.updated)} updated, {len(self.unchanged)} unchanged, "
                 f"{len(self.restored)} listed again, {len(self.retired)} retired, "
                 f"{len(self.kept_newer)} kept (the stored copy is newer)"]
        if self.partial:
            lines.append("  a partial feed: services it does not list are kept, not retired")
        for title, items in (("added", self.added), ("updated", self.updated), ("listed again", self.restored),
                             ("retired (no longer in the feed; their referrals are kept)", self.retired)):
            if items:
                lines.append(f"  {title}:")
                lines += [f"  - {sid} {name[:60]!r}" for sid, name in items]
        if self.kept_newer:
            lines.append("  kept:")
            lines += [f"  - {sid} {name[:60]!r}: {why}" for sid, name, why in self.kept_newer]
        return "\n".join(lines)


def _when(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


def update_directory(session: Session, programs: Sequence[Program], eligibility: Sequence[dict[str, Any]],
                     neighborhoods: dict[str, str] | None, *, partial: bool = False,
                     now: datetime | None = None) -> DirectoryChanges:
    """Bring the directory in line with a feed, in the session's transaction; the caller commits.

    By id: new services are added; a listed service whose content changed is updated unless the stored copy
    has a later `last_modified` (an older feed must not undo a newer one); services the feed no longer lists
    are retired, not deleted (a partial feed retires nothing). Neighborhoods, when given, are replaced.
    """
    now = now or utcnow()
    changes = DirectoryChanges(partial=partial)
    rows = {r.id: r for r in session.scalars(select(ProgramRow))}
    top = max((r.position for r in rows.values()), default=-1) + 1
    seen: set[str] = set()
    for i, (p, elig) in enumerate(zip(programs, eligibility, strict=True)):
        seen.add(p.id)
        row = rows.get(p.id)
        position = top + i if partial else i
        if row is None:
            session.add(ProgramRow(id=p.id, name=p.name, organization=p.organization, provider=p.provider,
                                   active=p.active, accepting_referrals=p.accepting_referrals, hsds=p.hsds,
                                   position=position, eligibility=elig, loaded_at=now))
            changes.added.append((p.id, p.name))
            continue
        if not partial:
            row.position = position
        stored, incoming = _when(row.hsds.get("last_modified")), _when(p.hsds.get("last_modified"))
        if row.retired_at is not None:
            changes.restored.append((p.id, p.name))
        elif row.hsds == p.hsds and row.eligibility == elig:
            changes.unchanged.append((p.id, p.name))
            continue
        elif stored and incoming and incoming < stored:
            changes.kept_newer.append((p.id, p.name, f"feed last_modified {p.hsds['last_modified']} is older "
                                                     f"than the stored {row.hsds['last_modified']}"))
            continue
        else:
            changes.updated.append((p.id, p.name))
        row.name, row.organization, row.provider = p.name, p.organization, p.provider
        row.active, row.accepting_referrals, row.hsds = p.active, p.accepting_referrals, p.hsds
        row.eligibility, row.retired_at, row.loaded_at = elig, None, now
    if not partial:
        for sid, row in rows.items():
            if sid not in seen and row.retired_at is None:
                row.retired_at = now
                changes.retired.append((sid, row.name))
    if neighborhoods is not None:
        session.query(Neighborhood).delete()
        for zip_code, name in neighborhoods.items():
            session.add(Neighborhood(zip_code=zip_code, name=name))
    session.flush()
    return changes


def load_programs(session: Session, stale_days: int | None = None, today: date | None = None) -> list[Program]:
    """The programs residents can be matched to: every service not retired, in feed order.

    With `stale_days`, programs whose HSDS assured_date is older than that are marked `call_first`.
    """
    rows = session.scalars(select(ProgramRow).where(ProgramRow.retired_at.is_(None)).order_by(ProgramRow.position))
    programs = [_program(row.hsds, row.eligibility) for row in rows]
    if stale_days is not None:
        programs = [replace(p, call_first=True) if assured_too_long_ago(p.hsds, stale_days, today) else p
                    for p in programs]
    return programs


def load_neighborhoods_table(session: Session) -> dict[str, str]:
    return {n.zip_code: n.name for n in session.scalars(select(Neighborhood))}
