"""Updates, not replacements: a newer feed updates services by id and last_modified, retires the ones it no
longer lists without losing their referrals, and reports what changed; stale services say "call first"."""

from __future__ import annotations

import copy
import dataclasses
import json
from datetime import date

from sqlalchemy import select

from referrals.config import ROOT
from referrals.db import make_sessionmaker
from referrals.intake import load_programs
from referrals.models import ProgramRow, ReferralCase
from referrals.residents import create_referral
from referrals.matching import Answers
from referrals.reports.counting import program_names
from referrals.store import load_feed

SAMPLE = ROOT / "referrals" / "data" / "sample_directory.json"
NEIGHBORHOODS = ROOT / "referrals" / "data" / "neighborhoods.csv"


def sample() -> dict:
    return json.loads(SAMPLE.read_text(encoding="utf-8"))


def write(tmp_path, doc, name="feed.json"):
    path = tmp_path / name
    path.write_text(json.dumps(doc))
    return path


def test_newer_feed_updates_retires_and_keeps_referrals(engine, tmp_path):
    load_feed(engine, SAMPLE, NEIGHBORHOODS)
    doc = sample()
    gone, changed = doc["services"][0], doc["services"][1]
    with make_sessionmaker(engine).begin() as s:
        program = next(p for p in load_programs(s) if p.id == gone["id"])
        case_id = create_referral(s, pseudonym="p-1", program=program, need="employment",
                                  answers=Answers(zip_code="47101"), neighborhood="Downtown", channel="sms").id

    newer = copy.deepcopy(doc)
    newer["services"].remove(gone)
    newer["services"][0]["name"] = "Summer Youth Jobs"
    newer["services"][0]["last_modified"] = "2026-11-30T10:00:00Z"
    _, changes = load_feed(engine, write(tmp_path, newer), None)
    assert changes.added == [] and changes.restored == []
    assert changes.updated == [(changed["id"], "Summer Youth Jobs")]
    assert changes.retired == [(gone["id"], gone["name"])]
    assert len(changes.unchanged) == 34
    text = changes.text()
    assert text.startswith("changes: 0 added, 1 updated, 34 unchanged, 0 listed again, 1 retired, 0 kept")
    assert f"  - {gone['id']} {gone['name']!r}" in text

    with make_sessionmaker(engine)() as s:
        ids = [p.id for p in load_programs(s)]
        assert gone["id"] not in ids and ids[0] == changed["id"]  # never offered again
        case = s.get(ReferralCase, case_id)
        assert case.program_id == gone["id"] and case.program_name == gone["name"]  # the referral stays
        assert program_names(s)[gone["id"]] == gone["name"]  # reports still name it
        assert s.scalar(select(ProgramRow.retired_at).where(ProgramRow.id == gone["id"])) is not None

    # an older copy of a service does not undo the newer one
    older = copy.deepcopy(newer)
    older["services"][0]["name"] = "Summer Youth Employment Program"
    older["services"][0]["last_modified"] = "2026-01-01T00:00:00Z"
    _, changes = load_feed(engine, write(tmp_path, older), None)
    assert changes.updated == [] and len(changes.kept_newer) == 1
    assert changes.kept_newer[0][2] == ("feed last_modified 2026-01-01T00:00:00Z is older than the stored "
                                        "2026-11-30T10:00:00Z")

    # listed again: back, with its referral untouched
    _, changes = load_feed(engine, SAMPLE, None)
    assert changes.restored == [(gone["id"], gone["name"])]
    with make_sessionmaker(engine)() as s:
        assert [p.id for p in load_programs(s)] == [x["id"] for x in doc["services"]]
        assert s.get(ReferralCase, case_id) is not None


def test_a_partial_feed_retires_nothing(engine, tmp_path):
    load_feed(engine, SAMPLE, NEIGHBORHOODS)
    doc = sample()
    page = {"total_items": 36, "total_pages": 4, "page_number": 1, "size": 10, "first_page": True,
            "last_page": False, "empty": False, "contents": doc["services"][:10]}
    page["contents"][0]["description"] = "Now also on Saturdays."
    directory, changes = load_feed(engine, write(tmp_path, page), None)
    assert directory.partial and changes.partial
    assert changes.retired == [] and len(changes.updated) == 1
    assert "a partial feed: services it does not list are kept, not retired" in changes.text()
    with make_sessionmaker(engine)() as s:
        assert len(load_programs(s)) == 36


def test_call_first_when_assured_date_is_too_old(engine, tmp_path):
    doc = sample()
    doc["services"][0]["assured_date"] = "2025-01-10"
    doc["services"][1]["assured_date"] = "2026-11-01"
    load_feed(engine, write(tmp_path, doc), NEIGHBORHOODS)
    with make_sessionmaker(engine)() as s:
        programs = load_programs(s, stale_days=365, today=date(2026, 12, 2))
        assert [p.call_first for p in programs[:3]] == [True, False, False]  # no assured_date: not flagged
        assert not any(p.call_first for p in load_programs(s))


def test_call_first_shows_in_the_program_list():
    from actions.messages import program_line
    from referrals.directory import load_directory_file
    from referrals.matching import Match

    p = dataclasses.replace(load_directory_file(SAMPLE)[0], call_first=True)
    assert program_line(1, Match(p), "en").endswith(". Call before you go: details may have changed.")
    assert program_line(1, Match(p), "es").endswith(". Llame antes de ir: los datos pueden haber cambiado.")


def test_the_action_server_directory_marks_stale_programs(tmp_path, monkeypatch):
    """The wiring residents meet: the action server's cached directory applies DIRECTORY_STALE_DAYS."""
    from actions import services as action_services
    from referrals.db import make_engine
    from referrals.store import upgrade

    url = f"sqlite:///{tmp_path / 'actions.db'}"
    upgrade(url)
    doc = sample()
    doc["services"][0]["assured_date"] = "2001-01-01"
    engine = make_engine(url)
    load_feed(engine, write(tmp_path, doc), NEIGHBORHOODS)
    engine.dispose()
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("DIRECTORY_STALE_DAYS", "30")
    action_services.reset()
    try:
        programs, hoods = action_services.services().directory()
        assert [p.id for p in programs if p.call_first] == [doc["services"][0]["id"]]
        assert hoods["47102"] == "Eastside"
    finally:
        action_services.reset()


def test_a_211_feed_without_our_extension_reaches_residents(tmp_path, monkeypatch):
    """End to end without Rasa: a standard feed (no x_eligibility) -> derived needs and ZIP codes -> the
    action that lists programs shows it to a resident in that ZIP, with "call first" for a stale one."""
    import asyncio

    from rasa_sdk import Tracker
    from rasa_sdk.executor import CollectingDispatcher

    from actions import services as action_services
    from actions.programs import ActionShowPrograms
    from referrals.db import make_engine
    from referrals.store import upgrade

    official = json.loads((ROOT / "referrals" / "hsds" / "examples" / "service_full.json").read_text())
    svc = copy.deepcopy(official)
    svc.update({"id": "5a0b8f3e-2c4d-4e6f-8a1b-3c5d7e9f1a2b", "name": "Eastside Job Club",
                "assured_date": "2020-01-01", "minimum_age": 16, "maximum_age": 99,
                "service_areas": [{"id": "20000000-0000-4000-8000-000000000001", "name": "47102",
                                   "extent_type": "text"}]})
    svc["attributes"][0]["taxonomy_term"].update({"code": "ND-3500", "name": "Job Search", "taxonomy": "AIRS"})
    url = f"sqlite:///{tmp_path / 'actions.db'}"
    upgrade(url)
    engine = make_engine(url)
    directory, _ = load_feed(engine, write(tmp_path, [svc]), NEIGHBORHOODS)
    engine.dispose()
    assert directory.programs[0].needs == ("employment",)
    monkeypatch.setenv("DATABASE_URL", url)
    action_services.reset()

    def show(zip_code: str) -> list[str]:
        tracker = Tracker("resident", {"need": "employment", "zip_code": zip_code, "language": "en"},
                          {"text": "1", "metadata": {"channel": "web"}}, [], False, None, {}, "action_listen")
        dispatcher = CollectingDispatcher()
        asyncio.run(ActionShowPrograms().run(dispatcher, tracker, {}))
        return [m["text"] for m in dispatcher.messages]

    try:
        lines = show("47102")
        assert lines[-1].startswith("1. Eastside Job Club") and "\"+44 1234 234567\", The service is available" in lines[-1]
        assert lines[-1].endswith("Call before you go: details may have changed.")
        assert not any("Eastside Job Club" in line for line in show("47101"))  # outside its service area
    finally:
        action_services.reset()
