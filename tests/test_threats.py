"""Weaker adversaries: records read back as input, queries counted, the query-only attack, transfer."""

import json
from pathlib import Path

import pytest
import torch
from cli_helpers import comparable, run_cli
from test_bad_input import one_line_error

from advtext.goals import Misclassification
from advtext.text.attack import AttackSettings
from advtext.text.classifier import TextClassifier, pad_ids
from advtext.text.dictionary import build_dictionary
from advtext.text.models import ModelConfig, build_model
from advtext.text.query_attack import QueryAttack, without_word
from advtext.text.tokenizer import Vocabulary


@pytest.fixture
def cli(capsys, monkeypatch):
    return lambda *args: run_cli(list(args), capsys, monkeypatch)


def records_of(path):
    return [json.loads(line) for line in path.read_text().splitlines()[1:]]


def test_an_attack_file_is_input_for_eval_attack_and_robustness(cli, small_clf, tmp_path):
    run, clf = small_clf
    out = tmp_path / "a.jsonl"
    code, _, err = cli("attack", run, "--corpus", "rotten-tomatoes", "--n", "40", "--method", "greedy",
                       "--no-similarity", "--out", out)
    assert code == 0, err
    records = records_of(out)
    code, stdout, err = cli("eval", run, "--input", out, "--json")
    assert code == 0, err
    assert "attack file" in err and "original labels" in err
    report = json.loads(stdout)
    assert report["n"] == 40
    # the adversarial texts with their original labels: the model's accuracy on them is accuracy under attack
    assert report["accuracy"] == pytest.approx(sum(r["pred_after"] == r["label"] for r in records) / 40)
    again = tmp_path / "b.jsonl"
    code, _, err = cli("attack", run, "--input", out, "--method", "greedy", "--no-similarity", "--out", again)
    assert code == 0, err
    assert sorted(r["original"] for r in records_of(again)) == sorted(r["adversarial"] for r in records)
    code, stdout, err = cli("robustness", run, "--corpus", out, "--n", "10", "--method", "greedy", "--no-similarity",
                            "--json")
    assert code == 0, err
    assert json.loads(stdout)["runs"][0]["clean_accuracy"] is not None


def test_every_record_counts_its_queries_and_stats_reports_them(cli, small_clf, tmp_path):
    run, _ = small_clf
    out = tmp_path / "a.jsonl"
    code, _, err = cli("attack", run, "--corpus", "rotten-tomatoes", "--n", "30", "--no-similarity", "--out", out)
    assert code == 0, err
    records = records_of(out)
    assert all(r["queries"] == r["forwards"] for r in records)
    code, stdout, _ = cli("stats", out, "--json")
    attacked = [r["queries"] for r in records if r["status"] != "skipped"]
    assert json.loads(stdout)["queries"]["mean"] == pytest.approx(sum(attacked) / len(attacked))


class Counting(torch.nn.Module):
    """A model that counts the texts it classifies (the oracle's bill) and refuses to be differentiated."""

    def __init__(self, inner):
        super().__init__()
        self.inner, self.embedding, self.cfg, self.texts = inner, inner.embedding, inner.cfg, 0

    def forward(self, ids):
        if torch.is_grad_enabled():
            raise AssertionError("a gradient of the target was asked for")
        self.texts += len(ids)
        return self.inner(ids)


def test_query_only_attack_counts_every_text_it_classifies_and_reads_no_gradient(small_clf, rotten):
    _, clf = small_clf
    texts, labels = rotten["test"]["text"][:48], rotten["test"]["label"][:48]
    clf.cover(texts, ["wordnet"])
    model = Counting(clf.model)
    dictionary = build_dictionary("wordnet", clf.vocab, protect_stopwords=True)
    attack = QueryAttack(model, Misclassification(), dictionary, AttackSettings(method="greedy", query_only=True))
    rows = clf.token_ids(texts)
    for p in clf.model.parameters():
        p.requires_grad_(False)
    try:
        outcomes = attack.run(rows, labels, list(range(48)))
    finally:
        for p in clf.model.parameters():
            p.requires_grad_(True)
    assert sum(o.forwards for o in outcomes) == model.texts
    assert all(o.backwards == 0 for o in outcomes)
    wins = [o for o in outcomes if o.status == "succeeded"]
    assert wins and any(o.status == "failed" for o in outcomes)
    flipped = clf.logits(pad_ids([o.ids for o in wins])).argmax(-1).tolist()
    assert all(f != labels[outcomes.index(o)] for f, o in zip(flipped, wins))
    for o, row in zip(outcomes, rows):  # each change is a WordNet synonym of the word it replaced
        for p in o.changed:
            assert o.ids[p] in dictionary.candidates[row[p]].tolist()
    # one text at a time gives the same outcomes: rows of a batch never interact
    alone = [attack.run([r], [y], [k])[0] for k, (r, y) in enumerate(zip(rows[:12], labels[:12]))]
    assert [(o.status, o.ids, o.forwards) for o in alone] == [(o.status, o.ids, o.forwards) for o in outcomes[:12]]


def test_without_word_deletes_one_word_and_keeps_the_rest_in_order():
    ids = torch.tensor([[5, 6, 7, 0], [8, 9, 0, 0]])
    assert without_word(ids, torch.tensor([0, 0, 1]), torch.tensor([0, 2, 1])).tolist() == [
        [6, 7, 0, 0], [5, 6, 0, 0], [8, 0, 0, 0]]


def test_oracle_through_the_cli_and_what_it_refuses(cli, small_clf, tmp_path):
    run, _ = small_clf
    out = tmp_path / "o.jsonl"
    args = ["attack", run, "--corpus", "rotten-tomatoes", "--n", "30", "--no-similarity", "--dictionary", "wordnet",
            "--threat", "oracle"]
    code, _, err = cli(*args, "--out", out)
    assert code == 0, err
    assert "query-only form" in err
    records = records_of(out)
    assert all(r["backwards"] == 0 and r["queries"] == r["forwards"] for r in records)
    one_line_error(*cli(*args, "--method", "papernot", "--out", tmp_path / "x.jsonl")[::2], "--method papernot",
                   "--threat oracle")
    one_line_error(*cli(*args, "--verify", "3", "--out", tmp_path / "x.jsonl")[::2], "--verify")
    one_line_error(*cli("attack", run, "--corpus", "rotten-tomatoes", "--n", "5", "--threat", "oracle",
                        "--out", tmp_path / "x.jsonl")[::2], "synonym dictionary")
    one_line_error(*cli(*args[:-1], "blind", "--out", tmp_path / "x.jsonl")[::2], "unknown threat")


def test_transfer_from_the_target_itself_is_the_white_box_attack(cli, small_clf, tmp_path):
    """A substitute that is the target transfers every success: the same records, measured on the target."""
    run, _ = small_clf
    common = ["--corpus", "rotten-tomatoes", "--n", "30", "--only-correct", "--method", "greedy", "--no-similarity"]
    white, moved = tmp_path / "w.jsonl", tmp_path / "t.jsonl"
    assert cli("attack", run, *common, "--out", white)[0] == 0
    code, _, err = cli("attack", run, *common, "--threat", f"transfer:{run}", "--out", moved)
    assert code == 0, err
    w, t = records_of(white), records_of(moved)
    key = lambda r: (r["id"], r["status"], r["adversarial"])  # noqa: E731
    assert [key(r) for r in t] == [key(r) for r in w]
    assert all(r["queries"] == 2 and r["substitute_status"] == r["status"] for r in t)
    assert (tmp_path / "t.substitute.jsonl").exists()
    # run again: the substitute's records resume, the measured file is written anew, the same
    assert cli("attack", run, *common, "--threat", f"transfer:{run}", "--out", moved)[0] == 0
    assert comparable(records_of(moved)) == comparable(t)
    # a file of another configuration is never overwritten
    one_line_error(*cli("attack", run, *common, "--threat", f"transfer:{run}", "--out", white)[::2],
                   "different configuration")


def test_a_substitute_with_another_label_set_is_refused(cli, small_clf, tmp_path):
    run, clf = small_clf
    other = tmp_path / "three"
    vocab = Vocabulary(list(clf.vocab.itos))
    TextClassifier(build_model(ModelConfig(vocab_size=len(vocab), num_classes=3)), vocab, 40).save(other)
    one_line_error(*cli("attack", run, "--corpus", "rotten-tomatoes", "--n", "5", "--threat", f"transfer:{other}",
                        "--out", tmp_path / "x.jsonl")[::2], "3 classes", "label set")


def test_samples_labels_its_texts_through_queries_alone(small_clf, rotten, tmp_path):
    from advtext.text.transfer import substitute_from_samples

    _, clf = small_clf
    guarded = TextClassifier(Counting(clf.model), clf.vocab, clf.max_len, clf.device, clf.info)
    substitute = substitute_from_samples(guarded, rotten["train"]["text"], 200, 0, tmp_path / "sub", lambda m: None)
    assert guarded.model.texts == 200 and substitute.num_classes == clf.num_classes


def test_samples_trains_a_substitute_on_texts_the_target_labelled(cli, small_clf, tmp_path):
    run, clf = small_clf
    out = tmp_path / "s.jsonl"
    args = ["attack", run, "--corpus", "rotten-tomatoes", "--n", "20", "--only-correct", "--method", "greedy",
            "--no-similarity", "--threat", "samples:300"]
    code, _, err = cli(*args, "--out", out)
    assert code == 0, err
    substitute = TextClassifier.load(tmp_path / "s.substitute-run", "cpu")
    assert substitute.info["samples"]["n"] == 300 and substitute.info["samples"]["target_weights_sha256"] == \
        clf.fingerprint
    records = records_of(out)
    assert len(records) == 20 and all(r["queries"] == 2 for r in records)
    # the measured status is the target's verdict on the crafted text
    preds = clf.predict_proba([r["adversarial"] for r in records]).argmax(-1).tolist()
    assert [r["status"] == "succeeded" for r in records] == [p != r["label"] for p, r in zip(preds, records)]
    code, _, err = cli(*args, "--out", out)
    assert code == 0 and "reusing the substitute" in err
    one_line_error(*cli(*args[:-1], "samples:1", "--out", tmp_path / "x.jsonl")[::2], "fewer labelled texts")
    one_line_error(*cli(*args[:-1], "samples:many", "--out", tmp_path / "x.jsonl")[::2], "samples:3200")
    one_line_error(*cli("attack", run, "--input", out, "--threat", "samples:50", "--out", tmp_path / "y.jsonl")[::2],
                   "give --corpus")


def test_robustness_measures_the_query_only_attack_beside_the_gradient_ones(cli, small_clf, tmp_path):
    run, _ = small_clf
    code, stdout, err = cli("robustness", run, "--corpus", "rotten-tomatoes", "--n", "20", "--method", "greedy,oracle",
                            "--no-similarity", "--out", tmp_path / "r", "--json")
    assert code == 0, err
    attacks = json.loads(stdout)["runs"][0]["attacks"]
    assert set(attacks) == {"greedy/wordnet", "oracle/wordnet"}
    oracle = records_of(Path(attacks["oracle/wordnet"]["records_file"]))
    assert len(oracle) == 20 and all(r["backwards"] == 0 for r in oracle)
    one_line_error(*cli("robustness", run, "--corpus", "rotten-tomatoes", "--method", "oracle", "--dictionary",
                        "vocab")[::2], "synonym dictionary")


def test_the_attack_takes_the_layout_of_the_model_whose_gradients_it_reads(cli, small_clf, tmp_path, monkeypatch):
    """Under --threat transfer the substitute is attacked, so its batch and active rows are asked for; under --bf16
    the attack does not refill by default (new texts would run apart, in float32)."""
    from advtext.text import run_attack
    from advtext.text.classifier import TextClassifier

    run, _ = small_clf
    loaded, asked, active = [], [], []
    load = TextClassifier.load
    monkeypatch.setattr(TextClassifier, "load", staticmethod(lambda *a, **k: loaded.append(load(*a, **k))
                                                             or loaded[-1]))
    monkeypatch.setattr(run_attack, "attack_layout", lambda model, batch, rows, refills: asked.append(
        (model, refills)) or (16, 5))
    into = run_attack._attack_into
    monkeypatch.setattr(run_attack, "_attack_into", lambda f, clf, goal, dictionary, settings, *a: active.append(
        settings.active_rows) or into(f, clf, goal, dictionary, settings, *a))
    code, _, err = cli("attack", run, "--corpus", "rotten-tomatoes", "--n", "20", "--method", "greedy",
                       "--no-similarity", "--threat", f"transfer:{run}", "--out", tmp_path / "t.jsonl")
    assert code == 0, err
    assert len(loaded) == 2 and asked == [(loaded[1], True)] and active == [5]
    code, _, err = cli("attack", run, "--corpus", "rotten-tomatoes", "--n", "20", "--method", "greedy",
                       "--no-similarity", "--bf16", "--out", tmp_path / "h.jsonl")
    assert code == 0, err
    assert asked[1] == (loaded[2], False)
