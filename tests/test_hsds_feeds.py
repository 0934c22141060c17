"""Standard HSDS 3.0 feeds in, as a city's 211 or partner platform publishes them.

Every official example either loads or says what it is; problems name the record and the field; a feed
with any problem changes nothing; pages, the tabular package (folder, zip, JSON) and several page files all
read to the same nested services.
"""

from __future__ import annotations

import copy
import csv
import json
import zipfile
from pathlib import Path

import pytest

from referrals.config import ROOT
from referrals.db import make_sessionmaker
from referrals.intake import load_programs
from referrals.directory import DirectoryError, read_directory
from referrals.store import load_feed

EXAMPLES = ROOT / "referrals" / "hsds" / "examples"
SAMPLE = ROOT / "referrals" / "data" / "sample_directory.json"
NEIGHBORHOODS = ROOT / "referrals" / "data" / "neighborhoods.csv"
COUNSELLING = "ac148810-d857-441c-9679-408f346de14b"


def example(name: str) -> dict:
    return json.loads((EXAMPLES / name).read_text(encoding="utf-8"))


def problems(source, **kwargs) -> list[str]:
    with pytest.raises(DirectoryError) as exc:
        read_directory(source, **kwargs)
    return exc.value.problems


# --- every official example ----------------------------------------------------------------------

LOADS = ["service_full.json", "service_list.json", "organization_full.json", "service_at_location_full.json",
         "service_at_location_list.json", "tabular.json"]
NOT_A_DIRECTORY = {
    "base.json": "this is the root document of an HSDS API (GET /: version, profile, openapi_url), not a directory",
    "location.json": "this is one HSDS location",
    "taxonomy.json": "this is one HSDS taxonomy (as GET /taxonomies/{id} answers)",
    "taxonomy_term.json": "this is one HSDS taxonomy term (as GET /taxonomy_terms/{id} answers)",
    "taxonomy_list.json": "a page of the HSDS API's GET /taxonomies: it lists classifications, not services",
    "taxonomy_term_list.json": "a page of the HSDS API's GET /taxonomy_terms",
    "organization_list.json": "a page of the HSDS API's GET /organizations (1 organization(s), none with services)",
}


def test_the_examples_folder_is_covered_in_full():
    assert sorted(p.name for p in EXAMPLES.glob("*.json")) == sorted(LOADS + list(NOT_A_DIRECTORY))


@pytest.mark.parametrize("name", LOADS)
def test_each_official_example_with_services_loads(name):
    directory = read_directory(EXAMPLES / name)
    [program] = directory.programs
    assert program.id == COUNSELLING and program.name == "Community Counselling"
    assert program.organization == "Example Organization Inc."
    assert (program.min_age, program.max_age) == (12, 100)
    # its only taxonomy term is the placeholder code 'code' named 'name': no need, and the report says so
    assert program.needs == ()
    assert f"- {COUNSELLING} 'Community Counselling': no taxonomy term maps to a need" in directory.report()


@pytest.mark.parametrize("name", sorted(NOT_A_DIRECTORY))
def test_each_official_example_without_services_says_what_it_is(name):
    [problem] = problems(EXAMPLES / name)
    assert NOT_A_DIRECTORY[name] in problem


def test_the_full_service_keeps_what_residents_see():
    [p] = read_directory(EXAMPLES / "service_full.json").programs
    assert p.phone == '"+44 1234 234567"'
    assert p.hours.startswith("The service is available from 10 am to 6pm weekdays")
    assert p.address == "1-30 Main Street, MyCity, ABC 1234"
    assert p.languages == ("ur",)
    assert p.hsds == example("service_full.json")  # kept whole, for export and the API


def test_a_single_page_says_it_is_partial():
    directory = read_directory(EXAMPLES / "service_list.json")
    assert directory.partial
    assert "page 1 of 10 read alone (last_page is false): a partial feed, so no service is retired" in \
        directory.report()


def test_organization_services_get_the_organization():
    [p] = read_directory(EXAMPLES / "organization_full.json").programs
    assert p.hsds["organization"]["id"] == example("organization_full.json")["id"]
    assert "services" not in p.hsds["organization"]


# --- problems name the record and the field ------------------------------------------------------

def test_problems_in_an_organization_name_the_service_and_field(tmp_path):
    org = example("organization_full.json")
    del org["services"][0]["status"]
    org["services"][0]["minimum_age"] = "twelve"
    path = tmp_path / "org.json"
    path.write_text(json.dumps(org))
    assert problems(path) == [
        f"services[0] (id={COUNSELLING}, name='Community Counselling'): field (service): 'status' is a required property",
        f"services[0] (id={COUNSELLING}, name='Community Counselling'): field minimum_age: 'twelve' is not of type 'number'",
    ]


def test_problems_in_an_array_name_the_position(tmp_path):
    svc = example("service_full.json")
    other = copy.deepcopy(svc)
    other["id"] = "not-a-uuid"
    path = tmp_path / "array.json"
    path.write_text(json.dumps([svc, other, "Community Counselling"]))
    found = problems(path)
    assert "[1] (id=not-a-uuid, name='Community Counselling'): field id: 'not-a-uuid' is not a 'uuid'" in found
    assert "[2]: expected a service or an organization, found a str" in found


def test_a_page_mixing_services_and_taxonomy_terms_is_refused(tmp_path):
    page = example("service_list.json")
    page["contents"].append(example("taxonomy_term.json"))
    path = tmp_path / "page.json"
    path.write_text(json.dumps(page))
    assert problems(path) == ["contents[1]: this is one HSDS taxonomy term (as GET /taxonomy_terms/{id} answers): "
                              "it holds no services"]


def test_a_feed_with_one_bad_record_changes_nothing(engine, tmp_path):
    load_feed(engine, SAMPLE, NEIGHBORHOODS)
    with make_sessionmaker(engine)() as s:
        before = [(p.id, p.hsds) for p in load_programs(s)]
    good = example("service_full.json")
    bad = copy.deepcopy(good)
    bad["id"], bad["status"] = "0f8e1b52-7c3d-4e7a-9b1f-2a6c5d4e3f21", "open"
    path = tmp_path / "feed.json"
    path.write_text(json.dumps([good, bad]))
    with pytest.raises(DirectoryError) as exc:
        load_feed(engine, path, NEIGHBORHOODS)
    assert exc.value.problems == [
        "[1] (id=0f8e1b52-7c3d-4e7a-9b1f-2a6c5d4e3f21, name='Community Counselling'): field status: "
        "'open' is not one of ['active', 'inactive', 'defunct', 'temporarily closed']"]
    with make_sessionmaker(engine)() as s:
        assert [(p.id, p.hsds) for p in load_programs(s)] == before


# --- several page files --------------------------------------------------------------------------

def _pages(tmp_path: Path, services: list[dict], size: int) -> list[Path]:
    chunks = [services[i:i + size] for i in range(0, len(services), size)]
    paths = []
    for n, chunk in enumerate(chunks, start=1):
        page = {"total_items": len(services), "total_pages": len(chunks), "page_number": n, "size": len(chunk),
                "first_page": n == 1, "last_page": n == len(chunks), "empty": False, "contents": chunk}
        path = tmp_path / f"page{n}.json"
        path.write_text(json.dumps(page))
        paths.append(path)
    return paths


def test_page_files_in_order_read_as_one_feed(tmp_path):
    services = json.loads(SAMPLE.read_text())["services"]
    paths = _pages(tmp_path, services, 10)
    directory = read_directory([str(p) for p in paths])
    assert [p.id for p in directory.programs] == [s["id"] for s in services]
    assert not directory.partial
    assert problems([str(paths[1]), str(paths[0])] + [str(p) for p in paths[2:]])[:2] == [
        f"{paths[1]}: page_number is 2, expected 1 (give the pages in order)",
        f"{paths[0]}: page_number is 1, expected 2 (give the pages in order)"]
    # the last page missing: partial, so nothing will be retired
    assert read_directory([str(p) for p in paths[:-1]]).partial


# --- the tabular data package --------------------------------------------------------------------

def _write_csvs(folder: Path, tables: dict) -> None:
    folder.mkdir()
    for name, rows in tables.items():
        columns = list(dict.fromkeys(k for row in rows for k in row))
        with open(folder / name, "w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, columns)
            writer.writeheader()
            writer.writerows(rows)


def test_tabular_csv_folder_zip_and_json_give_the_same_service(tmp_path):
    tables = example("tabular.json")
    # link the example's attribute to the service, so the taxonomy term is joined too
    tables["attributes.csv"][0]["link_id"] = COUNSELLING
    tables["taxonomy_terms.csv"][0]["taxonomy_id"] = tables["taxonomies.csv"][0]["id"]
    tab_json = tmp_path / "tabular.json"
    tab_json.write_text(json.dumps(tables))
    folder = tmp_path / "package"
    _write_csvs(folder, tables)
    archive = tmp_path / "package.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for p in folder.iterdir():
            zf.write(p, f"hsds/{p.name}")
    from_json, from_folder, from_zip = (read_directory(str(x)).programs[0] for x in (tab_json, folder, archive))
    assert from_folder.hsds == from_json.hsds == from_zip.hsds
    svc = from_folder.hsds
    assert svc["minimum_age"] == 12 and svc["organization"]["name"] == "Example Organization Inc."
    assert svc["service_at_locations"][0]["location"]["addresses"][0]["postal_code"] == "ABC 1234"
    assert svc["attributes"][0]["taxonomy_term"]["taxonomy_detail"]["id"] == tables["taxonomies.csv"][0]["id"]
    assert from_folder.phone == '"+44 1234 234567"'


def test_tabular_cell_problems_name_the_line_and_field(tmp_path):
    tables = example("tabular.json")
    tables["services.csv"][0]["minimum_age"] = "twelve"
    folder = tmp_path / "package"
    _write_csvs(folder, tables)
    assert problems(str(folder)) == [
        f"services.csv line 2 (id={COUNSELLING}, name='Community Counselling'): field minimum_age: "
        "'twelve' is not of type 'number'"]


def test_a_folder_without_services_csv_is_refused(tmp_path):
    folder = tmp_path / "package"
    _write_csvs(folder, {"organizations.csv": example("tabular.json")["organizations.csv"]})
    assert problems(str(folder)) == [f"{folder}: a tabular HSDS package needs services.csv (found: "
                                     "organizations.csv)"]
