"""The action server writes the unmet-need log (without Rasa: the real actions, a real Tracker, the real
database of each kind with the sample directory): which reason each ending gets, and that the write is as
careful as the referral's: only for a proven sender, never after the turn's deadline, and a failed write
never breaks the conversation nor puts anything of the resident in a log."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy import select, text, update

from actions import services as action_services
from actions.messages import t
from actions.programs import ActionCreateReferral, ActionShowPrograms
from referrals.db import make_engine, make_sessionmaker
from referrals.models import ProgramRow, UnmetNeedEntry, utcnow
from referrals.residents import create_referral
from referrals.directory import load_directory_file
from referrals.matching import Answers
from referrals.store import load_directory
from referrals.vault import sender_proof

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "referrals" / "data" / "sample_directory.json"
SECRET = "unmet-actions-secret"
WHO = "sms-" + "ab12" * 16
MINORS = "1fe9eefd"  # the one savings program without an age limit (30 referrals a week)


@pytest.fixture
def actions_db(db_url, monkeypatch):
    engine = make_engine(db_url)
    load_directory(engine, SAMPLE, ROOT / "referrals" / "data" / "neighborhoods.csv")
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.setenv("ACTIONS_SECRET", SECRET)
    action_services.reset()
    yield engine
    action_services.reset()
    engine.dispose()


def tracker(slots: dict, proof: bool = True, deadline: float | None = None) -> Tracker:
    metadata = {"channel": "sms"}
    if proof:
        metadata["sender_proof"] = sender_proof(SECRET, WHO)
    if deadline is not None:
        metadata["deadline"] = deadline
    return Tracker(WHO, {"language": "en", "neighborhood": "Eastside", **slots},
                   {"text": "x", "metadata": metadata}, [], False, None, {}, "action_listen")


def run(action, slots: dict, **kw) -> list[str]:
    dispatcher = CollectingDispatcher()
    asyncio.run(action.run(dispatcher, tracker(slots, **kw), {}))
    return [m.get("text") or "" for m in dispatcher.messages]


def rows(engine) -> list[tuple]:
    with make_sessionmaker(engine)() as s:
        return [(r.reason, r.need, r.neighborhood, r.age_band, r.language, r.channel)
                for r in s.scalars(select(UnmetNeedEntry).order_by(UnmetNeedEntry.id))]


def minors_program():
    return next(p for p in load_directory_file(SAMPLE) if p.id.startswith(MINORS))


def test_each_ending_gets_its_reason(actions_db):
    engine = actions_db
    savings_for_a_minor = {"need": "savings", "age_band": "under_18"}
    shown = run(ActionShowPrograms(), savings_for_a_minor)
    assert shown[-1].startswith("1. "), "a program fits: nothing unmet"
    assert rows(engine) == []

    # the program took its 30 referrals this week: it would fit, but it is full
    program = minors_program()
    with make_sessionmaker(engine).begin() as session:
        for i in range(30):
            create_referral(session, pseudonym=f"other-{i}", program=program, need="savings", answers=Answers(),
                            neighborhood=None, channel="sms")
    assert run(ActionShowPrograms(), savings_for_a_minor) == [t("en", "no_programs")]
    # a newer feed no longer lists it (retired): no program would fit at all
    with engine.begin() as conn:
        conn.execute(update(ProgramRow).where(ProgramRow.id == program.id).values(retired_at=utcnow()))
    action_services.reset()
    assert run(ActionShowPrograms(), savings_for_a_minor) == [t("en", "no_programs")]
    # shown programs, and "No thanks"
    assert run(ActionCreateReferral(), {"need": "employment", "age_band": "25_54", "matched_programs": ["x"],
                                        "referral_choice": "0"}) == [t("en", "no_referral")]
    assert rows(engine) == [("all_full", "savings", "Eastside", "under_18", "en", "sms"),
                            ("no_program", "savings", "Eastside", "under_18", "en", "sms"),
                            ("declined", "employment", "Eastside", "25_54", "en", "sms")]


def test_no_row_for_an_unproven_sender_or_after_the_deadline(actions_db):
    declined = {"need": "employment", "matched_programs": ["x"], "referral_choice": "0"}
    assert run(ActionCreateReferral(), declined, proof=False) == [t("en", "no_referral")]
    assert run(ActionCreateReferral(), declined, deadline=time.time() - 1) == [t("en", "no_referral")]
    assert rows(actions_db) == []
    assert run(ActionCreateReferral(), declined, deadline=time.time() + 30) == [t("en", "no_referral")]
    assert [r[0] for r in rows(actions_db)] == ["declined"]


def test_a_failed_write_keeps_the_conversation_going_and_logs_nothing_of_the_resident(actions_db, caplog):
    with actions_db.begin() as conn:
        conn.execute(text("DROP TABLE unmet_need_log"))
    caplog.set_level(logging.INFO)
    assert run(ActionCreateReferral(), {"need": "employment", "matched_programs": ["x"],
                                        "referral_choice": "0"}) == [t("en", "no_referral")]
    failed = [r.getMessage() for r in caplog.records if "unmet-need write failed" in r.getMessage()]
    assert len(failed) == 1 and failed[0].split(": ")[1].split(" ")[0] in ("OperationalError", "ProgrammingError")
    assert not any(WHO in r.getMessage() or "Eastside" in r.getMessage() for r in caplog.records)
