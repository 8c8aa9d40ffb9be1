"""Figures that must not silently go wrong: backward counts, the word cap, what a resume compares,
one writer per records file, and the split a run was trained on."""

from __future__ import annotations

import fcntl
import json
import shutil

import pytest
import torch
from cli_helpers import run_cli
from device_reads import DeviceReads
from test_bad_input import one_line_error

from advtext.engine import gradient_where
from advtext.goals import Misclassification
from advtext.text.attack import FAILED, SKIPPED, SUCCEEDED, AttackSettings, SequenceAttack, word_budget
from advtext.text.dictionary import build_dictionary


@pytest.fixture
def cli(capsys, monkeypatch):
    return lambda *args: run_cli(list(args), capsys, monkeypatch)


def attack_rows(clf, texts, labels, settings, batch_size):
    d = build_dictionary("vocab", clf.vocab)
    attack = SequenceAttack(clf.model, Misclassification(), d, settings)
    rows = clf.token_ids(texts)
    out = []
    for start in range(0, len(rows), batch_size):
        sl = slice(start, start + batch_size)
        out += attack.run(rows[sl], labels[sl], list(range(start, len(rows)))[: batch_size])
    return out


def test_backward_passes_are_counted_only_for_rows_that_go_on(small_clf, rotten):
    """A row whose goal the forward pass shows reached (or whose budget is spent) needs no gradient, so its backward
    count stays: a success costs one forward more than backwards, and a text skipped because the goal already
    holds none."""
    _, clf = small_clf
    texts, labels = rotten["test"]["text"][:24], rotten["test"]["label"][:24]
    for method in ("papernot", "greedy"):
        settings = AttackSettings(method=method, max_change=0.3, seed=1)
        batched = attack_rows(clf, texts, labels, settings, 24)
        assert [(o.forwards, o.backwards) for o in batched] == \
            [(o.forwards, o.backwards) for o in attack_rows(clf, texts, labels, settings, 1)]
        by_status = {s: [o for o in batched if o.status == s] for s in (SUCCEEDED, FAILED, SKIPPED)}
        assert by_status[SUCCEEDED] and by_status[SKIPPED]
        for o in by_status[SKIPPED]:
            assert (o.forwards, o.backwards) == (1, 0)
        if method == "papernot":  # one forward and backward per changed word, and the last forward alone
            for o in by_status[SUCCEEDED] + by_status[FAILED]:
                assert o.backwards == o.forwards - 1 == len(o.changed) or o.reason != "word budget spent", o


def test_rows_not_wanted_get_a_zero_gradient_and_no_row_is_read_back(monkeypatch):
    """Every chunk is backpropagated (a chunk whose rows all stop included), and nothing is read back to decide."""
    calls, real = [], torch.autograd.grad
    monkeypatch.setattr(torch.autograd, "grad", lambda *a, **k: calls.append(1) or real(*a, **k))
    x = torch.randn(6, 3)
    wanted = torch.tensor([True, False, False, False, False, True])
    with DeviceReads() as reads:
        values, grad, got = gradient_where(lambda v, w: ((v ** 2).sum(1), w), x, wanted, chunk_size=2)
    assert reads.ops == 0 and not reads.reads
    assert len(calls) == 3  # chunks (0, 1), (2, 3) and (4, 5)
    assert torch.equal(got, wanted) and torch.allclose(values, (x ** 2).sum(1))
    assert torch.allclose(grad[wanted], 2 * x[wanted]) and not grad[~wanted].any()


def test_max_change_is_a_hard_cap_and_min_words_a_floor(small_clf, rotten):
    lengths = torch.tensor([3, 19, 20, 41, 2])
    assert word_budget(lengths, 0.05).tolist() == [0, 0, 1, 2, 0]
    assert word_budget(lengths, 0.05, min_words=1).tolist() == [1, 1, 1, 2, 1]
    assert word_budget(lengths, 0.05, min_words=4).tolist() == [3, 4, 4, 4, 2]
    assert word_budget(lengths, None).tolist() == lengths.tolist()

    _, clf = small_clf
    texts, labels = rotten["test"]["text"][:40], rotten["test"]["label"][:40]
    outcomes = attack_rows(clf, texts, labels, AttackSettings(method="greedy", max_change=0.1), 40)
    zero = 0
    for o in outcomes:
        assert len(o.changed) <= int(0.1 * len(o.ids) + 1e-9)
        if int(0.1 * len(o.ids) + 1e-9) == 0 and o.status != SKIPPED:
            zero += 1
            assert o.status == FAILED and "allows none" in o.reason and o.backwards == 0
    assert zero  # RT snippets shorter than ten words exist among these
    floored = attack_rows(clf, texts, labels, AttackSettings(method="greedy", max_change=0.1, min_words=2), 40)
    assert all(len(o.changed) <= max(2, int(0.1 * len(o.ids) + 1e-9)) for o in floored)
    assert sum(o.status == SUCCEEDED for o in floored) > sum(o.status == SUCCEEDED for o in outcomes)


def test_resume_compares_what_determines_the_records(cli, small_clf, rotten, tmp_path):
    """A moved run folder resumes, a larger --n continues, changed input texts are refused."""
    run, _ = small_clf
    first = tmp_path / "first"
    shutil.copytree(run, first)
    texts = tmp_path / "t.txt"
    texts.write_text("\n".join(rotten["test"]["text"][:6]) + "\n")
    out = tmp_path / "a.jsonl"
    code, _, err = cli("attack", first, "--input", texts, "--n", "2", "--method", "greedy", "--out", out)
    assert code == 0, err
    before = out.read_text().splitlines()
    moved = tmp_path / "moved"
    first.rename(moved)
    code, _, err = cli("attack", moved, "--input", texts, "--n", "5", "--method", "greedy", "--out", out)
    assert code == 0 and "resuming: 2 record(s)" in err, err
    after = out.read_text().splitlines()
    # the two records are kept as they were, first (input order); the header names the run where it now lies
    assert after[1:3] == before[1:] and len(after) == 6
    assert json.loads(after[0])["advtext_attack"]["run"] == str(moved.resolve())
    assert len({json.loads(line)["id"] for line in after[1:]}) == 5
    texts.write_text("\n".join(rotten["test"]["text"][6:12]) + "\n")
    one_line_error(*cli("attack", moved, "--input", texts, "--n", "5", "--method", "greedy", "--out", out)[::2],
                   "begun on other texts")
    assert out.read_text().splitlines() == after


def test_a_second_writer_of_one_records_file_is_refused(cli, small_clf, tmp_path):
    run, _ = small_clf
    texts = tmp_path / "t.txt"
    texts.write_text("a fine film\nthe plot is a dull mess\n")
    out = tmp_path / "a.jsonl"
    with open(out, "a") as held:
        fcntl.flock(held.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)  # another attack is writing it
        one_line_error(*cli("attack", run, "--input", texts, "--out", out)[::2], "being written by another")
    assert out.read_text() == ""
    code, _, err = cli("attack", run, "--input", texts, "--out", out)  # the lock went with its holder
    assert code == 0, err


def test_a_config_with_a_bad_max_len_is_refused(cli, small_clf, tmp_path):
    run, _ = small_clf
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    config = json.loads((copy / "config.json").read_text())
    for bad in (-5, 0, "40", 2.5):
        (copy / "config.json").write_text(json.dumps({**config, "max_len": bad}))
        one_line_error(*cli("eval", copy, "--corpus", "rotten-tomatoes")[::2], "max_len", "not a positive")


def test_the_split_belongs_to_the_run(cli, rotten, tmp_path):
    """A run split its corpus with its own seed: eval and attack use that split whatever --seed they get,
    and say loudly when the texts they measure were training texts."""
    corpus = tmp_path / "rt.csv"
    import csv

    with open(corpus, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["text", "label"])
        writer.writerows(zip(rotten["train"]["text"][:600], rotten["train"]["label"][:600]))
    run = tmp_path / "run"
    code, _, err = cli("train", "--corpus", corpus, "--seed", "3", "--epochs", "1", "--max-len", "30",
                       "--embed-dim", "16", "--hidden-size", "16", "--out", run)
    assert code == 0, err
    assert json.loads((run / "config.json").read_text())["split_seed"] == 3
    seen = json.loads((run / "seen_texts.json").read_text())
    assert len(seen["train"]) == 480 and len(seen["validation"]) == 60  # the file split 80/10/10

    out = tmp_path / "a.jsonl"
    code, _, err = cli("attack", run, "--corpus", corpus, "--split", "test", "--seed", "1", "--n", "30",
                       "--method", "greedy", "--max-change", "0.2", "--out", out)
    assert code == 0 and "warning" not in err, err
    from advtext.text.heldout import text_digest

    originals = [json.loads(line)["original"] for line in out.read_text().splitlines()[1:]]
    assert len(originals) == 30 and not {text_digest(t) for t in originals} & set(seen["train"])
    assert json.loads(out.read_text().splitlines()[0])["advtext_attack"]["split_seed"] == 3

    code, _, err = cli("eval", run, "--corpus", corpus, "--json")  # the whole file: the training texts too
    assert code == 0 and "warning: 540 of 600 texts" in err, err
    code, _, err = cli("eval", run, "--corpus", corpus, "--split", "test", "--json")
    assert code == 0 and "warning" not in err, err
    code, _, err = cli("eval", run, "--corpus", corpus, "--split", "train", "--json")  # asked on purpose
    assert code == 0 and "warning" not in err, err


def test_stats_title_states_the_word_cap_and_floor():
    from advtext.cli import constraints_said

    assert constraints_said({"max_change": 0.05, "min_words": 1, "protect_stopwords": True, "pos": False}) == \
        " (max-change 0.05, min-words 1, stopwords kept)"
    assert constraints_said({"max_change": None, "min_words": 0}) == ""


def test_min_words_without_max_change_is_refused(cli, small_clf, tmp_path):
    run, _ = small_clf
    one_line_error(*cli("attack", run, "--corpus", "rotten-tomatoes", "--min-words", "2", "--out",
                        tmp_path / "a.jsonl")[::2], "--min-words", "--max-change")


def test_an_attack_file_of_an_older_advtext_is_named_so(cli, small_clf, tmp_path):
    run, _ = small_clf
    texts = tmp_path / "t.txt"
    texts.write_text("a fine film\nthe plot is a dull mess\n")
    out = tmp_path / "a.jsonl"
    code, _, err = cli("attack", run, "--input", texts, "--out", out)
    assert code == 0, err
    header, *rest = out.read_text().splitlines()
    old = json.loads(header)
    del old["advtext_attack"]["texts_sha256"]
    out.write_text("\n".join([json.dumps(old), *rest]) + "\n")
    one_line_error(*cli("attack", run, "--input", texts, "--out", out)[::2], "older advtext")
