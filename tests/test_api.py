"""The Python API, through the README's own example."""

import re
from pathlib import Path

import pytest

import advtext
from advtext.errors import AdvtextError

README = Path(__file__).resolve().parents[1] / "README.md"


def test_the_readme_example_runs_and_its_records_are_the_clis(small_clf, capsys):
    run, _ = small_clf
    code = re.search(r"## From Python.*?```python\n(.*?)```", README.read_text(), re.S).group(1)
    exec(code.replace('"runs/rt-lstm"', repr(str(run))), {})
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 3 and lines[0].split(" | ")[0] in ("succeeded", "failed", "skipped")
    assert 0.0 <= float(lines[-1]) <= 1.0


def test_attack_returns_records_in_the_order_given_and_checks_its_input(small_clf, rotten):
    _, clf = small_clf
    texts, labels = rotten["test"]["text"][:30], rotten["test"]["label"][:30]
    records = advtext.attack(clf, texts, labels, method="greedy", dictionary="wordnet")
    assert [r["original"] for r in records] == texts and [r["label"] for r in records] == labels
    assert advtext.summarize(records)["records"] == 30
    oracle = advtext.attack(clf, texts, labels, dictionary="wordnet", query_only=True)
    assert all(r["backwards"] == 0 for r in oracle)
    with pytest.raises(AdvtextError, match="2 labels"):
        advtext.attack(clf, texts[:3], [0, 1])
    with pytest.raises(AttributeError):
        advtext.no_such_name  # noqa: B018
