"""Synthetic sample data: a year of referrals, so the portal and the equity reports show something at once.

Everything written here is made up and marked so: residents' pseudonyms start with `synthetic-`, their
contact numbers (only with VAULT_KEY set, only for open cases) are fictional 555-01xx numbers. Outcomes
differ on purpose by language, channel, neighborhood, age and need, so the disparity columns have
something to show. The generator is deterministic for a given seed and "now".

Cases from the last two weeks are left `new` (the portal queue has work); older ones went through the
usual steps (claimed, contacted or unreachable, an outcome, closed) and are closed. Each case, its resident
and its referral_log rows are consistent with each other, as if the assistant and the portal had written
them. Rows are written in bulk (executemany in batches; SQLAlchemy sends multi-row INSERTs to PostgreSQL).
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Callable, Iterator, Sequence

from sqlalchemy import delete, func, insert, select, text
from sqlalchemy.engine import Connection, Engine

from referrals.db import make_sessionmaker
from referrals.intake import load_neighborhoods_table, load_programs
from referrals.models import ContactEntry, ReferralCase, ReferralLogEntry, Resident
from referrals.directory import Program
from referrals.matching import Answers, match_programs

PREFIX = "synthetic-"
DEFAULT_REFERRALS = 30_000
MAX_REFERRALS = 1_000_000  # all are held in memory before the one transaction that writes them
OPEN_DAYS = 14
BATCH = 5_000

NEED_WEIGHTS = {"employment": 28, "job_training": 14, "wages": 7, "city_jobs": 8, "small_business": 7,
                "savings": 8, "financial_coaching": 12, "basic_needs": 16}
AGE_WEIGHTS = {"under_18": 4, "18_24": 18, "25_54": 55, "55_64": 13, "65_plus": 6, None: 4}
INCOME_WEIGHTS = {"under_35k": 45, "35k_60k": 28, "60k_90k": 12, "over_90k": 3, None: 12}
RACE_WEIGHTS = {"hispanic_latino": 28, "black_african_american": 26, "white": 24, "asian": 8,
                "middle_eastern_north_african": 3, "american_indian_alaska_native": 2,
                "native_hawaiian_pacific_islander": 1}
GENDER_WEIGHTS = {"woman": 53, "man": 43, "another": 2, "prefer_not_to_say": 2}
# Share of Spanish speakers and how easily caseworkers reach people, by neighborhood (made up).
SPANISH_SHARE = {"Las Palmas": 0.55, "Eastside": 0.35, "Riverside Flats": 0.30, "Southport": 0.20}
REACH = {"Southport": 0.80, "Northgate": 0.88, "Riverside Flats": 0.90, "Downtown": 1.05, "Westwood": 1.08,
         "Cedar Hill": 1.06}
ENROLL_BY_NEED = {"basic_needs": 1.25, "financial_coaching": 1.1, "savings": 1.0, "employment": 0.9,
                  "job_training": 0.8, "wages": 0.95, "city_jobs": 0.6, "small_business": 0.7}


@dataclass
class Story:
    """One synthetic referral and everything that happened to it."""

    id: str
    resident: "Person"
    program: Program
    need: str
    created_at: datetime
    income_band: str | None
    business_stage: str | None
    events: list[tuple[str, datetime]] = field(default_factory=list)

    @property
    def status(self) -> str:
        return self.events[-1][0] if self.events else "new"

    @property
    def updated_at(self) -> datetime:
        return self.events[-1][1] if self.events else self.created_at


@dataclass
class Person:
    pseudonym: str
    log_id: str
    zip_code: str | None
    neighborhood: str | None
    age_band: str | None
    language: str
    channel: str
    race_ethnicity: str | None
    gender: str | None
    phone: str
    first_at: datetime | None = None
    last_at: datetime | None = None


def _pick(rng: random.Random, weights: dict) -> object:
    keys = list(weights)
    return rng.choices(keys, weights=[weights[k] for k in keys])[0]


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


class Generator:
    """Deterministic stories of synthetic referrals over the year before `now`."""

    def __init__(self, programs: Sequence[Program], neighborhoods: dict[str, str], seed: int = 1,
                 now: datetime | None = None):
        self.rng = random.Random(seed)
        self.now = (now or datetime.now(timezone.utc)).replace(microsecond=0)
        self.programs = [p for p in programs if p.active and p.accepting_referrals]
        self.zips = sorted(neighborhoods.items())
        self.people: list[Person] = []
        self._matches: dict[tuple, list[Program]] = {}
        if not self.programs:
            raise ValueError("no active programs that accept referrals: load a directory first")
        if not self.zips:
            raise ValueError("no neighborhoods: load a directory with its neighborhoods CSV first")

    def _person(self) -> Person:
        rng = self.rng
        if self.people and rng.random() < 0.22:
            return rng.choice(self.people)  # a resident coming back with another need
        zip_code, hood = rng.choice(self.zips) if rng.random() > 0.03 else (None, None)
        language = "es" if rng.random() < SPANISH_SHARE.get(hood or "", 0.08) else "en"
        age = _pick(rng, AGE_WEIGHTS)
        web = 0.45 if age in ("18_24", "25_54") else 0.2
        race = gender = None
        if rng.random() < 0.6:  # consented to anonymized analytics, then asked
            if rng.random() < 0.1:
                race = "prefer_not_to_say"
            elif rng.random() < 0.07:
                race = ",".join(sorted(rng.sample(list(RACE_WEIGHTS), 2)))
            else:
                race = "hispanic_latino" if language == "es" else str(_pick(rng, RACE_WEIGHTS))
            gender = str(_pick(rng, GENDER_WEIGHTS))
        person = Person(pseudonym=PREFIX + "%016x" % rng.getrandbits(64), log_id=_uuid(rng), zip_code=zip_code,
                        neighborhood=hood, age_band=age, language=language,
                        channel="web" if rng.random() < web else "sms", race_ethnicity=race, gender=gender,
                        phone="+1555555%04d" % (100 + rng.randrange(100)))  # 555-0100..0199: fictional
        self.people.append(person)
        return person

    def _program(self, need: str, person: Person, income: str | None, stage: str | None) -> Program | None:
        key = (need, person.zip_code, person.age_band, income, stage, person.language)
        if key not in self._matches:
            answers = Answers(zip_code=person.zip_code, age_band=person.age_band, income_band=income,
                              business_stage=stage, language=person.language)
            self._matches[key] = match_programs(need, answers, self.programs).programs
        found = self._matches[key]
        if not found:
            return None
        return self.rng.choices(found, weights=[6, 3, 1][:len(found)])[0]

    def _when(self) -> datetime:
        rng = self.rng
        while True:  # more referrals lately, fewer at weekends
            days = rng.random() * 365
            if rng.random() > 0.35 * days / 365 and not (rng.random() < 0.5 and
                                                         (self.now - timedelta(days=days)).weekday() >= 5):
                break
        at = (self.now - timedelta(days=days)).replace(hour=rng.choice(range(8, 22)), minute=rng.randrange(60),
                                                       second=rng.randrange(60))
        return min(at, self.now - timedelta(minutes=1))  # today's office hours may not have come yet

    def _outcome(self, s: Story) -> None:
        rng, p = self.rng, s.resident
        if (self.now - s.created_at).days < OPEN_DAYS or s.created_at >= self.now:
            return
        reach = 0.74 * REACH.get(p.neighborhood or "", 0.95)
        reach *= 0.78 if p.language == "es" else 1.0
        reach *= 0.86 if p.channel == "web" else 1.0
        reach *= {"65_plus": 0.8, "under_18": 0.85}.get(p.age_band or "", 1.0)
        enroll = 0.55 * ENROLL_BY_NEED.get(s.need, 1.0) * (0.85 if p.language == "es" else 1.0)
        at = s.created_at + timedelta(hours=rng.expovariate(1 / 30) + 1)
        s.events.append(("claimed", at))
        if rng.random() < min(reach, 0.97):
            at += timedelta(hours=rng.expovariate(1 / 48) + 2)
            s.events.append(("contacted", at))
            r = rng.random()
            outcome = "enrolled" if r < enroll else "not_eligible" if r < enroll + 0.2 else "declined"
            at += timedelta(days=rng.uniform(1, 12))
            s.events.append((outcome, at))
        else:
            at += timedelta(days=rng.uniform(4, 10))
            s.events.append(("unreachable", at))
        at += timedelta(hours=rng.uniform(1, 72))
        s.events.append(("closed", at))
        limit = self.now - timedelta(minutes=1)
        s.events = [(st, min(t, limit)) for st, t in s.events]

    def stories(self, count: int) -> Iterator[Story]:
        rng, made = self.rng, 0
        while made < count:
            person = self._person()
            need = str(_pick(rng, NEED_WEIGHTS))
            income = _pick(rng, INCOME_WEIGHTS)
            stage = rng.choice(("idea", "new", "established")) if need == "small_business" else None
            program = self._program(need, person, income, stage)
            if program is None:
                continue
            story = Story(id=_uuid(rng), resident=person, program=program, need=need, created_at=self._when(),
                          income_band=income, business_stage=stage)
            self._outcome(story)
            person.first_at = min(person.first_at or story.created_at, story.created_at)
            person.last_at = max(person.last_at or story.updated_at, story.updated_at)
            made += 1
            yield story


def log_rows(story: Story) -> list[dict]:
    """The referral_log rows of a story: the created row, then one per status change."""
    p = story.resident
    base = dict(referral_id=story.id, resident_log_id=p.log_id, need=story.need, program_id=story.program.id,
                neighborhood=p.neighborhood, age_band=p.age_band, language=p.language, channel=p.channel,
                race_ethnicity=p.race_ethnicity, gender=p.gender)
    rows = [dict(base, event="created", status="new", occurred_at=story.created_at)]
    rows += [dict(base, event="status", status=st, occurred_at=at) for st, at in story.events]
    return rows


def case_row(story: Story) -> dict:
    p = story.resident
    return dict(id=story.id, resident_pseudonym=p.pseudonym, program_id=story.program.id,
                program_name=story.program.name, organization=story.program.organization, need=story.need,
                status=story.status, language=p.language, channel=p.channel, zip_code=p.zip_code,
                neighborhood=p.neighborhood, age_band=p.age_band, income_band=story.income_band,
                business_stage=story.business_stage, created_at=story.created_at, updated_at=story.updated_at)


def insert_batched(conn: Connection, table, rows: Iterator[dict] | list[dict], batch: int = BATCH) -> int:
    """executemany in batches; returns the number of rows written."""
    chunk, total = [], 0
    for row in rows:
        chunk.append(row)
        if len(chunk) >= batch:
            conn.execute(insert(table), chunk)
            total, chunk = total + len(chunk), []
    if chunk:
        conn.execute(insert(table), chunk)
        total += len(chunk)
    return total


def synthetic_count(conn: Connection) -> int:
    return conn.scalar(select(func.count()).select_from(Resident)
                       .where(Resident.pseudonym.like(PREFIX + "%"))) or 0


def real_count(conn: Connection) -> int:
    return conn.scalar(select(func.count()).select_from(Resident)
                       .where(~Resident.pseudonym.like(PREFIX + "%"))) or 0


def remove_synthetic(conn: Connection) -> int:
    """Delete every synthetic resident with their cases, vault entries and log rows."""
    ids = select(Resident.log_id).where(Resident.pseudonym.like(PREFIX + "%")).scalar_subquery()
    conn.execute(delete(ReferralLogEntry).where(ReferralLogEntry.resident_log_id.in_(ids)))
    conn.execute(delete(ContactEntry).where(ContactEntry.pseudonym.like(PREFIX + "%")))
    conn.execute(delete(ReferralCase).where(ReferralCase.resident_pseudonym.like(PREFIX + "%")))
    return conn.execute(delete(Resident).where(Resident.pseudonym.like(PREFIX + "%"))).rowcount


class SampleDataError(RuntimeError):
    """Why sample data was not written; the message says what to do."""


@dataclass(frozen=True)
class Loaded:
    referrals: int
    residents: int
    log_rows: int
    open_cases: int
    contacts: int
    replaced: int


def load_sample_data(engine: Engine, referrals: int = DEFAULT_REFERRALS, seed: int = 1, replace: bool = False,
                     vault_key: str = "", now: datetime | None = None, allow_real: bool = False,
                     progress: Callable[[str], None] = lambda m: None) -> Loaded:
    """Write `referrals` synthetic referrals in one transaction (all or nothing)."""
    if not 1 <= referrals <= MAX_REFERRALS:
        raise SampleDataError(f"--rows must be between 1 and {MAX_REFERRALS}")
    sealer = None
    if vault_key:
        from referrals.vault import Vault
        sealer = Vault(vault_key)
    with make_sessionmaker(engine)() as session:
        programs, hoods = load_programs(session), load_neighborhoods_table(session)
    try:
        gen = Generator(programs, hoods, seed=seed, now=now)
    except ValueError as exc:
        raise SampleDataError(str(exc)) from None
    with engine.begin() as conn:
        existing, real = synthetic_count(conn), real_count(conn)
        if real and not allow_real:
            raise SampleDataError(
                f"this database holds {real} real resident(s); sample data would mix into their reports. "
                "Use an empty database (set DATABASE_URL), or pass --allow-real to add it anyway.")
        if existing and not replace:
            raise SampleDataError(f"sample data is already loaded ({existing} synthetic residents); "
                                  "pass --replace to delete it and load it again")
        replaced = remove_synthetic(conn) if existing else 0
        progress(f"generating {referrals} referrals (seed {seed})")
        stories = list(gen.stories(referrals))
        people = {s.resident.pseudonym: s.resident for s in stories}
        insert_batched(conn, Resident.__table__, (dict(pseudonym=p.pseudonym, log_id=p.log_id,
                                                       created_at=p.first_at, last_activity_at=p.last_at)
                                                  for p in people.values()))
        insert_batched(conn, ReferralCase.__table__, (case_row(s) for s in stories))
        n_log = insert_batched(conn, ReferralLogEntry.__table__, (r for s in stories for r in log_rows(s)))
        open_people = {s.resident.pseudonym: s.resident for s in stories if s.status != "closed"}
        contacts = 0
        if sealer is not None:
            contacts = insert_batched(conn, ContactEntry.__table__, (
                dict(pseudonym=p.pseudonym, kind="sms", ciphertext=sealer.seal(p.phone),
                     created_at=p.first_at, updated_at=p.last_at) for p in open_people.values()))
    if engine.dialect.name == "postgresql":
        # Fresh statistics now rather than when autovacuum gets round to it: the portal's and the report's
        # queries are planned for the real size of the tables from the first request.
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("ANALYZE residents, referral_cases, referral_log, contact_vault"))
    return Loaded(referrals=len(stories), residents=len(people), log_rows=n_log,
                  open_cases=sum(1 for s in stories if s.status != "closed"), contacts=contacts,
                  replaced=replaced)
