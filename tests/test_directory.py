"""The program directory: the sample loads, broken files are rejected whole, and export round-trips."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

import referrals.store
from referrals.__main__ import main
from referrals.config import ROOT
from referrals.db import make_engine, make_sessionmaker
from referrals.intake import load_programs
from referrals.directory import (MAX_FILE_BYTES, DirectoryError, export_document, load_directory_file,
                                 parse_directory, read_directory)
from referrals.needs import PROGRAM_NEEDS
from referrals.store import load_directory

SAMPLE = ROOT / "referrals" / "data" / "sample_directory.json"
NEIGHBORHOODS = ROOT / "referrals" / "data" / "neighborhoods.csv"
OTHER_UUID = "0f8e1b52-7c3d-4e7a-9b1f-2a6c5d4e3f21"


def sample() -> dict:
    return json.loads(SAMPLE.read_text(encoding="utf-8"))


def record(doc: dict, i: int) -> str:
    s = doc["services"][i]
    return f"services[{i}] (id={s['id']}, name={s['name']!r})"


def problems_of(doc: dict) -> list[str]:
    with pytest.raises(DirectoryError) as exc:
        parse_directory(doc)
    return exc.value.problems


def problems_of_file(path: Path) -> list[str]:
    with pytest.raises(DirectoryError) as exc:
        load_directory_file(path)
    return exc.value.problems


# --- the sample --------------------------------------------------------------------------------

def test_sample_has_at_least_three_open_programs_for_every_program_need():
    programs = load_directory_file(SAMPLE)
    open_per_need = Counter(n for p in programs if p.active and p.accepting_referrals for n in p.needs)
    assert set(PROGRAM_NEEDS) == {"employment", "job_training", "wages", "city_jobs", "small_business",
                                  "savings", "financial_coaching", "basic_needs"}
    thin = {need: open_per_need[need] for need in PROGRAM_NEEDS if open_per_need[need] < 3}
    assert thin == {}, f"needs with fewer than 3 active programs accepting referrals: {thin}"


def test_sample_programs_carry_the_facts_residents_see():
    programs = {p.id: p for p in load_directory_file(SAMPLE)}
    assert len(programs) == len(sample()["services"])
    center = programs["64e3f446-e1c9-5fb6-bb30-a75b506ae445"]
    assert center.name == "Riverbend Workforce Center"
    assert center.organization == "City of Riverbend Office of Workforce Development"
    assert center.phone == "(555) 010-2001"
    assert center.hours == "Mon-Fri 9am-5pm"
    assert center.address == "250 Commerce Avenue, Riverbend, 47101"
    assert center.languages == ("en", "es")
    assert center.needs == ("employment", "job_training")
    assert center.zip_codes == () and center.active and center.accepting_referrals


# --- malformed records: every problem names the record and the field ---------------------------

def test_wrong_type_names_record_and_field():
    doc = sample()
    doc["services"][1]["minimum_age"] = "ten"
    assert problems_of(doc) == [f"{record(doc, 1)}: field minimum_age: 'ten' is not of type 'number'"]


def test_missing_required_name_is_reported_for_that_record():
    doc = sample()
    sid = doc["services"][0]["id"]
    del doc["services"][0]["name"]
    assert problems_of(doc) == [
        f"services[0] (id={sid}, name='?'): field (service): 'name' is a required property"]


def test_id_that_is_not_a_uuid_is_rejected():
    doc = sample()
    doc["services"][4]["id"] = "not-a-uuid"
    problems = problems_of(doc)
    assert f"{record(doc, 4)}: field id: 'not-a-uuid' is not a 'uuid'" in problems
    # its children still point at the old id, and that is reported too
    assert f"{record(doc, 4)}: field phones[0].service_id: does not match the service id" in problems


def test_nested_field_path_is_given():
    doc = sample()
    doc["services"][0]["service_at_locations"][0]["location"]["addresses"] = "250 Commerce Avenue"
    assert problems_of(doc) == [f"{record(doc, 0)}: field service_at_locations[0].location.addresses: "
                                "'250 Commerce Avenue' is not of type 'array'"]


def test_unknown_need_in_eligibility_extension():
    doc = sample()
    doc["services"][2]["x_eligibility"]["needs"] = ["employment", "rent"]
    problems = problems_of(doc)
    assert len(problems) == 1
    assert problems[0].startswith(f"{record(doc, 2)}: field x_eligibility.needs[1]: 'rent' is not one of [")


def test_zip_code_in_extension_must_be_five_digits():
    doc = sample()
    doc["services"][3]["x_eligibility"]["zip_codes"] = ["47102", "4710"]
    assert problems_of(doc) == [
        f"{record(doc, 3)}: field x_eligibility.zip_codes[1]: '4710' does not match '^[0-9]{{5}}$'"]


def test_missing_eligibility_extension_is_not_a_problem_and_the_report_says_why_it_has_no_need(tmp_path):
    # A 211 feed has never heard of x_eligibility: the service loads, and the report says it could not be
    # placed (the sample services carry no taxonomy terms) instead of rejecting the whole file.
    doc = sample()
    del doc["services"][5]["x_eligibility"]
    path = tmp_path / "directory.json"
    path.write_text(json.dumps(doc))
    directory = read_directory(path)
    assert len(directory.programs) == 36
    assert directory.programs[5].needs == ()
    report = directory.report()
    assert "placed with a need: 35; could not be placed: 1" in report
    sid, name = doc["services"][5]["id"], doc["services"][5]["name"]
    assert (f"  - {sid} {name!r}: no taxonomy term maps to a need in need_mapping.csv "
            "(the service has no taxonomy terms)") in report


def test_duplicate_id_names_both_records():
    doc = sample()
    dup = copy.deepcopy(doc["services"][0])
    dup["name"] = "Riverbend Workforce Center (copy)"
    doc["services"].append(dup)
    last = len(doc["services"]) - 1
    assert problems_of(doc) == [f"{record(doc, last)}: field id: duplicate of services[0]"]


def test_organization_id_must_match_the_nested_organization():
    doc = sample()
    doc["services"][6]["organization_id"] = OTHER_UUID
    assert problems_of(doc) == [f"{record(doc, 6)}: field organization_id: does not match organization.id"]


@pytest.mark.parametrize("key, value", [("phones", 5), ("languages", True), ("schedules", 3.5)])
def test_child_list_of_wrong_type_is_a_problem_not_a_crash(key, value):
    doc = sample()
    doc["services"][0][key] = value
    problems = problems_of(doc)
    assert problems == [f"{record(doc, 0)}: field {key}: {value!r} is not of type 'array'"]


def test_every_problem_is_listed_not_just_the_first():
    doc = sample()
    doc["services"][1]["minimum_age"] = "ten"
    doc["services"][5]["x_eligibility"]["needs"] = []
    doc["services"][6]["organization_id"] = OTHER_UUID
    problems = problems_of(doc)
    assert [p.split(":")[0] for p in problems] == [record(doc, 1), record(doc, 5), record(doc, 6)]


def test_a_service_that_is_not_an_object():
    doc = sample()
    doc["services"][2] = "Second Chance Hiring Network"
    assert problems_of(doc) == ["services[2]: a service must be an object"]


# --- malformed files ---------------------------------------------------------------------------

def test_not_json(tmp_path):
    path = tmp_path / "directory.json"
    path.write_text("services:\n  - name: Riverbend Workforce Center\n")
    assert problems_of_file(path) == [f"{path}: not valid JSON: Expecting value at line 1 column 1"]


def test_binary_bytes(tmp_path):
    path = tmp_path / "directory.json"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    assert problems_of_file(path) == [f"{path}: not UTF-8 text (byte 0)"]


def test_file_over_the_size_limit_is_not_read(tmp_path):
    path = tmp_path / "directory.json"
    with open(path, "wb") as fh:
        fh.truncate(MAX_FILE_BYTES + 1)  # sparse: no 20 MB written
    assert problems_of_file(path) == [
        f"{path}: {MAX_FILE_BYTES + 1} bytes is larger than the {MAX_FILE_BYTES} byte limit"]


def test_empty_file(tmp_path):
    path = tmp_path / "directory.json"
    path.write_bytes(b"")
    assert problems_of_file(path) == [f"{path}: not valid JSON: Expecting value at line 1 column 1"]


def test_missing_file(tmp_path):
    path = tmp_path / "nope.json"
    assert problems_of_file(path) == [f"{path}: cannot read (No such file or directory)"]


@pytest.mark.parametrize("document", [{"hsds_version": "3.0"}, {"services": {}}, "x", 12])
def test_top_level_must_be_an_object_with_services(tmp_path, document):
    path = tmp_path / "directory.json"
    path.write_text(json.dumps(document))
    problems = problems_of_file(path)
    assert len(problems) == 1
    assert problems[0].startswith('top level: expected an object with a "services" array')


def test_a_bare_array_of_services_is_a_directory_too(tmp_path):
    path = tmp_path / "directory.json"
    path.write_text(json.dumps(sample()["services"]))
    assert [p.id for p in load_directory_file(path)] == [s["id"] for s in sample()["services"]]


# --- the command line --------------------------------------------------------------------------

def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "referrals", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)


def test_cli_validate_accepts_the_sample():
    result = run_cli("directory", "validate", str(SAMPLE))
    assert result.returncode == 0, result.stderr
    n = len(sample()['services'])
    assert result.stdout.startswith(f"{SAMPLE}: valid HSDS 3.0 directory, {n} services\n")
    assert f"placed with a need: {n}; could not be placed: 0\n" in result.stdout


def test_cli_validate_exits_1_and_prints_every_problem(tmp_path):
    doc = sample()
    doc["services"][1]["minimum_age"] = "ten"
    doc["services"][5]["x_eligibility"]["zip_codes"] = ["4710"]
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(doc))
    result = run_cli("directory", "validate", str(path))
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.startswith("directory rejected, 2 problem(s):\n")
    assert f"  - {record(doc, 1)}: field minimum_age: 'ten' is not of type 'number'\n" in result.stderr
    assert f"  - {record(doc, 5)}: field x_eligibility.zip_codes[0]: '4710' does not match" in result.stderr
    assert "Traceback" not in result.stderr


# --- loading into the database: all or nothing --------------------------------------------------

def program_ids(engine) -> list[str]:
    with make_sessionmaker(engine)() as session:
        return [p.id for p in load_programs(session)]


def test_broken_file_leaves_the_loaded_directory_intact(db_url, tmp_path):
    engine = make_engine(db_url)
    try:
        assert load_directory(engine, SAMPLE, NEIGHBORHOODS) == len(sample()["services"])
        before = program_ids(engine)
        assert before == [s["id"] for s in sample()["services"]]

        doc = sample()
        doc["services"][-1]["status"] = "open"  # the last record is bad, the first 35 are fine
        broken = tmp_path / "broken.json"
        broken.write_text(json.dumps(doc))
        with pytest.raises(DirectoryError):
            load_directory(engine, broken, NEIGHBORHOODS)
        assert program_ids(engine) == before
    finally:
        engine.dispose()


def test_failure_while_writing_rolls_the_whole_load_back(db_url, tmp_path, monkeypatch):
    engine = make_engine(db_url)
    try:
        load_directory(engine, SAMPLE, NEIGHBORHOODS)
        before = program_ids(engine)
        doc = sample()
        doc["services"] = doc["services"][:3]
        smaller = tmp_path / "smaller.json"
        smaller.write_text(json.dumps(doc))
        real = referrals.store.update_directory

        def update_then_fail(*args, **kwargs):
            real(*args, **kwargs)  # 33 rows retired, changes flushed
            raise RuntimeError("disk full")

        monkeypatch.setattr(referrals.store, "update_directory", update_then_fail)
        with pytest.raises(RuntimeError):
            load_directory(engine, smaller, NEIGHBORHOODS)
        assert program_ids(engine) == before
    finally:
        engine.dispose()


# --- export ------------------------------------------------------------------------------------

def test_export_returns_exactly_the_services_that_were_loaded(db_url):
    engine = make_engine(db_url)
    try:
        load_directory(engine, SAMPLE, NEIGHBORHOODS)
        with make_sessionmaker(engine)() as session:
            exported = export_document(load_programs(session), "City of Riverbend")
    finally:
        engine.dispose()
    assert exported["hsds_version"] == "3.0"
    assert exported["publisher"] == "City of Riverbend"
    assert exported["services"] == sample()["services"]


def test_cli_export_writes_a_file_that_validates_again(db_url, tmp_path, monkeypatch, capsys):
    engine = make_engine(db_url)
    try:
        load_directory(engine, SAMPLE, NEIGHBORHOODS)
    finally:
        engine.dispose()
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.setenv("CITY_NAME", "City of Riverbend")
    out = tmp_path / "export.json"
    assert main(["directory", "export", str(out)]) == 0
    n = len(sample()["services"])
    assert capsys.readouterr().out == f"exported {n} services to {out}\n"
    assert [p.id for p in load_directory_file(out)] == [s["id"] for s in sample()["services"]]
    assert main(["directory", "validate", str(out)]) == 0
    assert capsys.readouterr().out.startswith(f"{out}: valid HSDS 3.0 directory, {n} services\n")


def test_an_empty_services_array_is_rejected(tmp_path):
    import json as _json

    from referrals.directory import DirectoryError, load_directory_file

    path = tmp_path / "empty.json"
    path.write_text(_json.dumps({"hsds_version": "3.0", "services": []}))
    with pytest.raises(DirectoryError) as err:
        load_directory_file(path)
    assert "services: the array is empty" in err.value.problems[0]
