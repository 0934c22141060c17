"""The triage command, end to end, and triage quality on our own held-out set.

tests/data/triage_heldout.tsv was written separately from data/nlu and is never trained on; the
figures printed here are the ones reported in docs/triage.md (run: make test, or
`.venv/bin/python -m pytest tests/test_triage.py -s`).
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from collections import defaultdict

import pytest
import yaml

from referrals.config import ROOT
from referrals.needs import NEEDS, PROGRAM_NEEDS

pytestmark = pytest.mark.parametrize("stack", ["sqlite"], indirect=True)


def run_triage(stack, lines: list[str]) -> list[dict]:
    env = dict(os.environ, RASA_URL=stack.rasa_url, RASA_TOKEN=stack.token)
    proc = subprocess.run([sys.executable, "-m", "bot", "triage"], input="\n".join(lines) + "\n",
                          capture_output=True, text=True, env=env, cwd=ROOT, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return [json.loads(line) for line in proc.stdout.splitlines()]


def test_triage_command_writes_one_json_object_per_line_in_order(stack):
    lines = ["i need a job asap", "", "quiero ahorrar dinero", "hello", "\U0001F600\U0001F600",
             "x" * 5000, "mi esposo me pega"]
    out = run_triage(stack, lines)
    assert [o["text"] for o in out] == lines
    for o in out:
        assert set(o) == {"text", "need", "intent", "confidence", "language"}
        assert o["need"] is None or o["need"] in NEEDS
        assert 0.0 <= o["confidence"] <= 1.0 and o["language"] in ("en", "es")
    assert out[0]["need"] == "employment" and out[0]["language"] == "en"
    assert out[1]["need"] is None
    assert out[2]["need"] == "savings" and out[2]["language"] == "es"
    assert out[3]["need"] is None
    assert out[6]["need"] == "crisis" and out[6]["language"] == "es"


def test_public_examples_of_needs_yml_are_triaged_right(stack):
    path = ROOT.parent / "shared" / "needs.yml"
    if not path.exists():
        pytest.skip(f"{path} not present (it ships beside the repository, not in it)")
    examples = [(ex, need) for need, spec in yaml.safe_load(path.read_text())["needs"].items()
                for ex in spec.get("examples", [])]
    out = run_triage(stack, [ex for ex, _ in examples])
    wrong = [(ex, need, o["need"]) for (ex, need), o in zip(examples, out) if o["need"] != need]
    assert len(wrong) <= 2, wrong


def test_heldout_accuracy_per_language_and_crisis_recall(stack):
    with open(ROOT / "tests" / "data" / "triage_heldout.tsv", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    out = run_triage(stack, [r["text"] for r in rows])
    right, total = defaultdict(int), defaultdict(int)
    crisis_missed, oos_as_need, lang_right = [], [], 0
    for r, o in zip(rows, out):
        gold = None if r["need"] == "null" else r["need"]
        total[r["language"]] += 1
        right[r["language"]] += o["need"] == gold
        lang_right += o["language"] == r["language"]
        if gold == "crisis" and o["need"] != "crisis":
            crisis_missed.append(r["text"])
        if gold == "out_of_scope" and o["need"] in PROGRAM_NEEDS:
            oos_as_need.append(r["text"])
    acc = {lang: right[lang] / total[lang] for lang in total}
    print(f"\nheld-out triage: {json.dumps({k: round(v, 3) for k, v in acc.items()})} "
          f"n={dict(total)} language-id={lang_right / len(rows):.3f} "
          f"out-of-scope taken for a need={len(oos_as_need)}/{sum(r['need'] == 'out_of_scope' for r in rows)}")
    assert crisis_missed == [], "no crisis message may be missed"
    assert min(acc.values()) >= 0.93, acc
    assert abs(acc["en"] - acc["es"]) <= 0.04, acc
    assert lang_right / len(rows) >= 0.97
    assert len(oos_as_need) <= 3, oos_as_need


def test_unrelated_everyday_messages_rarely_get_the_crisis_reply_and_crisis_recall_stays_whole(stack):
    """Issue 10 (1): on tests/data/unrelated_set.tsv (over 1,000 ordinary questions about cars, shopping,
    phones, weather, math and small talk, both languages; never trained on) at most 0.5% get the crisis
    reply (model and keywords together), and every message of tests/data/crisis_set.tsv still does."""
    with open(ROOT / "tests" / "data" / "unrelated_set.tsv", encoding="utf-8") as fh:
        unrelated = list(csv.DictReader(fh, delimiter="\t"))
    with open(ROOT / "tests" / "data" / "crisis_set.tsv", encoding="utf-8") as fh:
        crisis_rows = [r for r in csv.DictReader(fh, delimiter="\t") if r["expect"] == "crisis"]
    assert len(unrelated) >= 1000
    out = run_triage(stack, [r["text"] for r in unrelated])
    false_crisis = [r["text"] for r, o in zip(unrelated, out) if o["need"] == "crisis"]
    not_a_need = sum(o["need"] not in PROGRAM_NEEDS for o in out)
    rate = len(false_crisis) / len(unrelated)
    print(f"\nunrelated set: n={len(unrelated)} crisis reply={len(false_crisis)} ({rate:.2%}) "
          f"not taken for a program need={not_a_need / len(unrelated):.3f}; {false_crisis}")
    assert rate <= 0.005, false_crisis
    if crisis_rows:
        caught = run_triage(stack, [r["text"] for r in crisis_rows])
        missed = [r["text"] for r, o in zip(crisis_rows, caught) if o["need"] != "crisis"]
        assert missed == [], missed
