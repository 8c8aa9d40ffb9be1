"""Shared fixtures: real corpora from `make setup`, and one small LSTM trained on real snippets."""

from __future__ import annotations

import pytest
import torch

from advtext.text.classifier import TextClassifier
from advtext.text.corpora import load_corpus
from advtext.text.models import ModelConfig, build_model
from advtext.text.tokenizer import Vocabulary
from advtext.text.train import fit_text
from advtext.training import TrainSettings


@pytest.fixture(scope="session")
def rotten():
    return load_corpus("rotten-tomatoes")


@pytest.fixture(scope="session")
def small_clf(rotten, tmp_path_factory):
    """A 1-layer LSTM trained for 3 epochs on the Rotten Tomatoes training snippets, saved and reloaded."""
    torch.set_num_threads(2)
    train = rotten["train"]
    vocab = Vocabulary.build(train["text"], max_size=8000, max_len=40)
    cfg = ModelConfig(vocab_size=len(vocab), embed_dim=64, hidden_size=64)
    torch.manual_seed(0)  # the initial weights too: every test session gets the same model
    clf = TextClassifier(build_model(cfg), vocab, 40)
    val = rotten["validation"].select(range(500))
    fit_text(clf, train["text"], train["label"], val["text"], val["label"], TrainSettings(epochs=3, seed=0),
        log=lambda m: None)
    run = tmp_path_factory.mktemp("run")
    clf.save(run)
    return run, TextClassifier.load(run, "cpu")
