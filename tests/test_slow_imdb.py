"""The paper's setting end to end on real IMDB (minutes on 2 cores): run with `make test-slow`."""

import json

import pytest
from cli_helpers import run_cli


@pytest.mark.slow
def test_imdb_lstm_attacked_in_both_modes(capsys, monkeypatch, tmp_path):
    cli = lambda *a: run_cli(list(a), capsys, monkeypatch)  # noqa: E731
    run = tmp_path / "imdb"
    code, _, err = cli("train", "--corpus", "imdb", "--max-len", "100", "--epochs", "3", "--out", run)
    assert code == 0, err
    code, out, _ = cli("eval", run, "--corpus", "imdb", "--max-words", "100", "--json")
    assert json.loads(out)["accuracy"] > 0.85
    words = {}
    for method in ("papernot", "greedy"):
        out_file = tmp_path / f"{method}.jsonl"
        code, _, err = cli("attack", run, "--corpus", "imdb", "--split", "train", "--max-words", "100", "--n", "100",
                           "--only-correct", "--method", method, "--out", out_file)
        assert code == 0, err
        code, out, _ = cli("stats", out_file, "--json")
        summary = json.loads(out)
        assert summary["success_rate"] >= 0.98
        words[method] = summary["words_changed"]["mean"]
    assert words["greedy"] < 0.6 * words["papernot"]
