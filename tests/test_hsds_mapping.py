"""x_eligibility is optional: needs and limits come from standard HSDS fields through an editable mapping,
and the load report says which service got which need and why."""

from __future__ import annotations

import copy
import json
import subprocess
import sys

import pytest

from referrals.config import ROOT
from referrals.directory import read_directory
from referrals.matching import Answers, match_programs
from referrals.need_mapping import MappingError, load_mapping

EXAMPLES = ROOT / "referrals" / "hsds" / "examples"
JOBS_ID = "5a0b8f3e-2c4d-4e6f-8a1b-3c5d7e9f1a2b"


def term(code: str, name: str, taxonomy: str, n: int) -> dict:
    return {"id": f"00000000-0000-4000-8000-{n:012d}", "code": code, "name": name, "description": name,
            "taxonomy": taxonomy}


def service(terms: list[dict], **extra) -> dict:
    """A 211-style service: standard HSDS, no x_eligibility."""
    svc = copy.deepcopy(json.loads((EXAMPLES / "service_full.json").read_text()))
    svc.update({"id": JOBS_ID, "name": "Eastside Job Club", "eligibility_description": "Adults.",
                "minimum_age": 18, "maximum_age": 99, "service_areas": []})
    svc["attributes"] = [{"id": f"10000000-0000-4000-8000-{i:012d}", "link_type": "service",
                          "link_entity": "service", "value": "", "taxonomy_term": t} for i, t in enumerate(terms)]
    svc.update(extra)
    return svc


def read(tmp_path, services: list[dict], mapping=None):
    path = tmp_path / "feed.json"
    path.write_text(json.dumps(services))
    return read_directory(path, mapping)


def test_airs_code_uses_the_longest_prefix_and_the_report_says_why(tmp_path):
    d = read(tmp_path, [service([term("ND-6500.1500", "Job Training Programs", "AIRS/211 LA County", 1)])])
    [p] = d.programs
    assert p.needs == ("job_training",)  # ND-6500 (job training) wins over ND (employment)
    report = d.report()
    assert "placed with a need: 1; could not be placed: 0" in report
    assert (f"  - {JOBS_ID} 'Eastside Job Club': job_training\n"
            "      job_training: taxonomy term ND-6500.1500 'Job Training Programs' has code prefix ND-6500 "
            "(need_mapping.csv rule 2)") in report


def test_open_eligibility_names_give_several_needs(tmp_path):
    d = read(tmp_path, [service([term("", "Skills & Training", "Open Eligibility", 1),
                                 term("", "tax preparation", "Open Eligibility", 2)])])
    assert d.programs[0].needs == ("job_training", "financial_coaching")


def test_a_code_rule_for_another_taxonomy_does_not_apply(tmp_path):
    # "ND" is an AIRS code; the same letters in some other taxonomy mean nothing to us
    d = read(tmp_path, [service([term("ND", "Nodes", "Local Tags", 1)])])
    assert d.programs[0].needs == ()
    assert "no taxonomy term maps to a need in need_mapping.csv (terms: code 'ND' name 'Nodes')" in d.report()


def test_zip_codes_income_and_ages_come_from_standard_fields(tmp_path):
    svc = service([term("ND-3500", "Job Search/Placement", "AIRS", 1)],
                  service_areas=[{"id": "20000000-0000-4000-8000-000000000001", "name": "Eastside",
                                  "extent": "47102, 47106", "extent_type": "text"},
                                 {"id": "20000000-0000-4000-8000-000000000002",
                                  "name": "Anyone who lives at 12345 Main Street", "extent_type": "text"}],
                  eligibility_description="Households at or below 80% of area median income.")
    d = read(tmp_path, [svc])
    [p] = d.programs
    assert p.needs == ("employment",)
    assert p.zip_codes == ("47102", "47106")  # only an area that is nothing but ZIP codes restricts
    assert p.max_income_ami_pct == 80
    assert (p.min_age, p.max_age) == (18, 99)
    report = d.report()
    assert "ZIP codes 47102, 47106 from service_areas[0].extent" in report
    assert "income limit 80% of AMI from eligibility_description ('80% of area median income')" in report

    # matching uses the derived facts like it uses x_eligibility
    outside = match_programs("employment", Answers(zip_code="47101", age_band="25_54"), [p])
    assert outside.matches == [] and outside.excluded[0][1][0].code == "outside_area"
    inside = match_programs("employment", Answers(zip_code="47102", age_band="25_54", income_band="under_35k"),
                            [p])
    assert [m.program.id for m in inside.matches] == [JOBS_ID]


def test_x_eligibility_wins_and_unknown_extension_fields_pass_through(tmp_path):
    svc = service([term("ND-3500", "Job Search/Placement", "AIRS", 1)],
                  x_eligibility={"needs": ["city_jobs"], "accepting_referrals": True},
                  x_translations={"es": {"name": "Club de empleo del Eastside"}})
    d = read(tmp_path, [svc])
    assert d.programs[0].needs == ("city_jobs",)
    assert d.programs[0].hsds["x_translations"] == {"es": {"name": "Club de empleo del Eastside"}}
    assert "city_jobs: listed in x_eligibility.needs" in d.report()


def test_a_city_edits_the_mapping_in_yaml(tmp_path):
    mapping = tmp_path / "mapping.yml"
    mapping.write_text("rules:\n  - {match: name, value: name, need: human, note: placeholder term}\n")
    d = read_directory(EXAMPLES / "service_full.json", mapping)
    assert d.programs[0].needs == ("human",)
    assert "taxonomy term code 'name' is named 'name' (mapping.yml rule 1)" in d.report()


def test_a_bad_mapping_names_each_rule(tmp_path):
    mapping = tmp_path / "mapping.csv"
    mapping.write_text("taxonomy,match,value,need,note\nAIRS,code,BH-3800,rent,\n,prefix,Food,basic_needs,\n")
    with pytest.raises(MappingError) as exc:
        load_mapping(mapping)
    assert exc.value.problems[0].startswith("mapping.csv rule 1: need 'rent' is not one of employment, ")
    assert exc.value.problems[1] == "mapping.csv rule 2: match must be 'code' or 'name', not 'prefix'"
    result = subprocess.run([sys.executable, "-m", "referrals", "directory", "validate",
                             str(EXAMPLES / "service_full.json"), "--mapping", str(mapping)],
                            cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "need mapping rejected:\n  - mapping.csv rule 1: need 'rent'" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_default_mapping_loads_and_covers_every_program_need():
    mapping = load_mapping()
    from referrals.needs import PROGRAM_NEEDS

    assert {r.need for r in mapping.rules} >= set(PROGRAM_NEEDS)
