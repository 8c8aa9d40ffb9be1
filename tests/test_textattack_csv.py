"""TextAttack's CSV log both ways: advtext's records written with its columns, and its CSV read by `stats`."""

import csv
import json

import pytest
from cli_helpers import run_cli
from test_bad_input import one_line_error

from advtext.text.textattack_csv import COLUMNS, read_textattack_csv


@pytest.fixture
def cli(capsys, monkeypatch):
    return lambda *args: run_cli(list(args), capsys, monkeypatch)


def test_records_round_trip_through_textattacks_csv(cli, small_clf, tmp_path):
    run, _ = small_clf
    out, table = tmp_path / "a.jsonl", tmp_path / "a.csv"
    code, _, err = cli("attack", run, "--corpus", "rotten-tomatoes", "--n", "40", "--method", "greedy",
                       "--dictionary", "wordnet", "--no-similarity", "--out", out)
    assert code == 0, err
    code, stdout, err = cli("stats", out, "--json", "--csv", table)
    assert code == 0, err
    ours = json.loads(stdout)
    with open(table, newline="") as f:
        rows = list(csv.DictReader(f))
    assert tuple(rows[0]) == COLUMNS and len(rows) == 40
    import pandas

    frame = pandas.read_csv(table)  # as scripts written for TextAttack's logs read them
    assert tuple(frame.columns) == COLUMNS and len(frame) == 40
    assert set(frame["result_type"]) <= {"Successful", "Failed", "Skipped"}
    records = [json.loads(line) for line in out.read_text().splitlines()[1:]]
    for row, r in zip(rows, records):
        assert row["perturbed_text"].replace("[[", "").replace("]]", "") == r["adversarial"]
        assert row["original_text"].replace("[[", "").replace("]]", "") == r["original"]
        assert row["original_text"].count("[[") == row["perturbed_text"].count("[[") == r["words_changed"]
        assert row["result_type"] == {"succeeded": "Successful", "failed": "Failed", "skipped": "Skipped"}[r["status"]]
    code, stdout, err = cli("stats", table, "--json")
    assert code == 0, err
    theirs = json.loads(stdout)
    for key in ("success_rate", "accuracy_before", "accuracy_under_attack", "succeeded", "failed", "skipped"):
        assert theirs[key] == ours[key], key
    assert theirs["words_changed"]["mean"] == pytest.approx(ours["words_changed"]["mean"])
    assert theirs["queries"]["mean"] == pytest.approx(ours["queries"]["mean"])
    assert theirs["quality"]["texts_with_polarity_break"] == pytest.approx(ours["quality"]["texts_with_polarity_break"])
    assert theirs["seconds_per_sentence"] is None  # TextAttack's log has no timings


def test_a_textattack_log_is_read_as_textattack_writes_it(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text(",".join(COLUMNS) + "\n"
                    '"the movie is [[great]] fun","the movie is [[huge]] fun",0.02,0.71,1,0,1,23,Successful\n'
                    '"a [[dull]] [[film]]","a [[boring]] [[picture]]",0.1,0.4,0,0,0,40,Failed\n'
                    '"wrong already","wrong already",0.9,0.9,1,1,0,1,Skipped\n')
    records = read_textattack_csv(path)
    assert [r["status"] for r in records] == ["succeeded", "failed", "skipped"]
    assert records[0]["original"] == "the movie is great fun" and records[0]["adversarial"] == "the movie is huge fun"
    assert records[0]["changes"] == [{"position": 3, "old": "great", "new": "huge", "start": 13, "end": 18}]
    assert [r["words_changed"] for r in records] == [1, 2, 0] and [r["queries"] for r in records] == [23, 40, 1]


def test_a_textattack_csv_without_its_columns_is_refused(cli, tmp_path):
    path = tmp_path / "log.csv"
    path.write_text("original_text,perturbed_text,result_type\nx,y,Successful\n")
    one_line_error(*cli("stats", path)[::2], "num_queries")
