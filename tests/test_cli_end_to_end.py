"""The text workflow through the command line, as a user runs it: train, eval, attack, resume, stats."""

import json

import pytest
from cli_helpers import run_cli

from advtext.text.classifier import TextClassifier
from advtext.text.tokenizer import words


@pytest.fixture
def cli(capsys, monkeypatch):
    return lambda *args: run_cli(list(args), capsys, monkeypatch)


def test_train_attack_stats_on_real_snippets(cli, rotten, tmp_path):
    corpus = tmp_path / "rt.jsonl"
    rows = [{"review": t, "y": y} for t, y in zip(rotten["train"]["text"][:4000], rotten["train"]["label"][:4000])]
    corpus.write_text("".join(json.dumps(r) + "\n" for r in rows))
    run = tmp_path / "run"
    code, out, err = cli("train", "--corpus", corpus, "--text-column", "review", "--label-column", "y",
                         "--epochs", "2", "--max-len", "40", "--embed-dim", "32", "--hidden-size", "32", "--out", run)
    assert code == 0, err
    assert "accuracy" in out and (run / "model.safetensors").exists()
    assert json.loads((run / "config.json").read_text())["history"]

    code, out, err = cli("eval", run, "--corpus", corpus, "--text-column", "review", "--label-column", "y", "--json")
    report = json.loads(out)
    assert code == 0 and report["n"] > 300 and len(report["confusion_matrix"]) == 2

    texts = tmp_path / "mine.txt"
    texts.write_text("a gorgeous, moving and funny film\n\nthe plot is a dull, lifeless mess\nqwxz zzqy\n")
    records_file = tmp_path / "a.jsonl"
    code, out, err = cli("attack", run, "--input", texts, "--method", "greedy", "--out", records_file)
    assert code == 0, err
    records = [json.loads(line) for line in records_file.read_text().splitlines()[1:]]
    assert len(records) == 3
    by_text = {r["original"]: r for r in records}
    unknown = by_text["qwxz zzqy"]
    assert unknown["status"] == "skipped" and unknown["reason"] == "no in-vocabulary word"
    probs = unknown["probs_before"]
    assert unknown["pred_before"] == unknown["pred_after"] == probs.index(max(probs)) and abs(sum(probs) - 1) < 1e-4
    # the two real texts (labelled with the model's own prediction, so always attacked): each record's adversarial
    # text classifies as recorded, and differs from the original in exactly the words it says it changed
    attacked = [r for r in records if r is not unknown]
    assert [r["status"] in ("succeeded", "failed") for r in attacked] == [True, True]
    clf = TextClassifier.load(run, "cpu")
    rechecked = clf.predict_proba([r["adversarial"] for r in attacked]).argmax(1).tolist()
    for r, pred in zip(attacked, rechecked):
        assert r["label"] == r["pred_before"] and pred == r["pred_after"]
        assert (r["status"] == "succeeded") == (pred != r["label"])
        before, after = words(r["original"]), words(r["adversarial"])
        assert len(before) == len(after)
        assert sum(a != b for a, b in zip(before, after)) == r["words_changed"] == len(r["changes"])
    assert any(r["status"] == "succeeded" and r["words_changed"] >= 1 for r in attacked)
    # resuming a finished file attacks nothing again
    code, out, err = cli("attack", run, "--input", texts, "--method", "greedy", "--out", records_file)
    assert code == 0 and len(records_file.read_text().splitlines()) == 4

    code, out, err = cli("stats", records_file, "--json", "--plots", tmp_path / "plots")
    summary = json.loads(out)
    assert code == 0 and summary["records"] == 3 and summary["skipped"] >= 1
    assert (tmp_path / "plots" / "words_changed.png").stat().st_size > 1000


def test_attack_bad_input(cli, small_clf, tmp_path):
    run, _ = small_clf
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n")
    code, _, err = cli("attack", run, "--input", empty, "--out", tmp_path / "a.jsonl")
    assert code == 2 and "is empty" in err
    latin = tmp_path / "latin.txt"
    latin.write_bytes("un film tr\xe8s beau\n".encode("latin-1"))
    code, _, err = cli("attack", run, "--input", latin, "--out", tmp_path / "a.jsonl")
    assert code == 2 and "not UTF-8" in err
    code, _, err = cli("attack", run, "--corpus", "rotten-tomatoes", "--goal", "targeted:5", "--out", tmp_path / "a")
    assert code == 2 and "out of range" in err and len(err.strip().splitlines()) == 1
    code, _, err = cli("attack", run, "--corpus", "rotten-tomatoes", "--dictionary", "glove:x", "--out", tmp_path / "a")
    assert code == 2 and "cosine threshold" in err


def test_goal_already_met_is_recorded_as_skipped(cli, small_clf, rotten, tmp_path):
    """Targeted at the class of the first text: five texts already in it are skipped, five others attacked."""
    run, clf = small_clf
    texts = rotten["test"]["text"][:40]
    pred = clf.predict_proba(texts).argmax(1).tolist()
    target = pred[0]
    chosen = [i for i, p in enumerate(pred) if p == target][:5] + [i for i, p in enumerate(pred) if p != target][:5]
    assert len(chosen) == 10
    f = tmp_path / "t.txt"
    f.write_text("\n".join(texts[i] for i in chosen) + "\n")
    out = tmp_path / "a.jsonl"
    code, _, err = cli("attack", run, "--input", f, "--goal", f"targeted:{target}", "--out", out)
    assert code == 0, err
    records = sorted((json.loads(line) for line in out.read_text().splitlines()[1:]), key=lambda r: r["id"])
    assert [r["id"] for r in records] == list(range(10))
    assert [r["pred_before"] for r in records] == [pred[i] for i in chosen]
    for r in records[:5]:
        assert r["status"] == "skipped" and r["changes"] == [] and r["adversarial"] == r["original"]
        assert r["reason"].startswith("the true label already is the target class")
    assert all(r["status"] in ("succeeded", "failed") for r in records[5:])
    succeeded = [r for r in records[5:] if r["status"] == "succeeded"]
    assert len(succeeded) >= 4  # papernot over the whole vocabulary, no word budget
    assert all(r["pred_after"] == target for r in succeeded)
    assert clf.predict_proba([r["adversarial"] for r in succeeded]).argmax(1).tolist() == [target] * len(succeeded)
