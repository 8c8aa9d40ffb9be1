"""Defensive distillation of text models, and the attack objective on the logits that sees through it."""

import json

import pytest
import torch
from cli_helpers import run_cli
from test_bad_input import one_line_error

from advtext.goals import Misclassification, TargetedMisclassification
from advtext.text.attack import goal_objective
from advtext.text.classifier import TextClassifier


@pytest.fixture
def cli(capsys, monkeypatch):
    return lambda *args: run_cli(list(args), capsys, monkeypatch)


def test_the_logit_objective_is_the_margin_toward_the_goal():
    logits = torch.tensor([[3.0, 1.0, -2.0], [0.5, 2.5, 1.5]])
    labels = torch.tensor([0, 1])
    assert goal_objective(Misclassification(), logits, labels, "logits").tolist() == [-2.0, -1.0]
    assert goal_objective(TargetedMisclassification(2), logits, labels, "logits").tolist() == [-5.0, -1.0]
    log_probs = torch.log_softmax(logits, -1)
    assert torch.allclose(goal_objective(Misclassification(), logits, labels, "log-probs"),
                          -log_probs.gather(1, labels[:, None]).squeeze(1))


def test_distill_a_text_model_then_attack_it_on_its_logits(cli, tmp_path):
    corpus = tmp_path / "c.jsonl"
    good = ["a wonderful warm film", "brilliant and moving", "a delight from start to end", "superb acting"]
    bad = ["a dull tedious mess", "boring and clumsy", "an awful waste of time", "poor acting"]
    rows = [{"text": t, "label": 1} for t in good * 25] + [{"text": t, "label": 0} for t in bad * 25]
    corpus.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "distilled"
    code, _, err = cli("distill", "--corpus", corpus, "--temperature", "5", "--embed-dim", "16", "--hidden-size",
                       "16", "--epochs", "12", "--patience", "12", "--lr", "1e-2", "--out", out)
    assert code == 0, err
    config = json.loads((out / "config.json").read_text())
    assert config["distillation"]["role"] == "student" and config["distillation"]["deployed_temperature"] == 1
    assert json.loads((out / "teacher" / "config.json").read_text())["distillation"]["temperature"] == 5.0
    student, teacher = TextClassifier.load(out, "cpu"), TextClassifier.load(out / "teacher", "cpu")
    assert student.vocab.itos == teacher.vocab.itos and config["test"]["accuracy"] >= 0.9
    records = tmp_path / "a.jsonl"
    code, _, err = cli("attack", out, "--corpus", corpus, "--split", "all", "--n", "20", "--method", "greedy",
                       "--objective", "logits", "--no-similarity", "--out", records)
    assert code == 0, err
    assert json.loads(records.read_text().splitlines()[0])["advtext_attack"]["objective"] == "logits"
    one_line_error(*cli("distill", "--corpus", corpus, "--temperature", "0.5", "--out", tmp_path / "x")[::2],
                   "--temperature 0.5")
    one_line_error(*cli("distill", "--corpus", corpus, "--temperature", "30", "--teacher", out / "teacher",
                        "--out", tmp_path / "y")[::2], "temperature 5.0, not 30.0")
