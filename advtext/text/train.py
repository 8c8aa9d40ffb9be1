"""Training of text classifiers: length-bucketed batches of token ids on the shared loop."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from pathlib import Path

import torch

from advtext.distributed import note
from advtext.errors import AdvtextError
from advtext.text.classifier import TextClassifier, pad_ids
from advtext.text.models import ModelConfig, build_model
from advtext.text.tokenizer import Vocabulary
from advtext.training import TrainSettings, TrainStep, accuracy, fit, seed_everything


def new_text_classifier(train_texts: Sequence[str], num_classes: int, dev: torch.device, architecture: str = "lstm",
                        max_len: int | None = None, vocab_size: int | None = None, min_freq: int = 1,
                        embed_dim: int | None = None, hidden_size: int = 128, layers: int = 1,
                        bidirectional: bool = False, pooling: str = "mean", dropout: float = 0.0, glove: bool = False,
                        seed: int = 0) -> TextClassifier:
    """A freshly initialised classifier (seeded by ``seed``) with a vocabulary built from ``train_texts``."""
    from advtext.text.embeddings import GLOVE_DIM, glove_matrix

    if glove and embed_dim not in (None, GLOVE_DIM):
        raise AdvtextError(f"--glove gives {GLOVE_DIM}-dimensional embeddings: drop --embed-dim or set it to 50")
    seed_everything(seed)
    if architecture == "minilm":  # a pre-trained transformer: its own architecture, every word through its pieces
        vocab = Vocabulary.build(train_texts, max_len=max_len)
        model = build_model(ModelConfig(architecture=architecture, vocab_size=len(vocab), num_classes=num_classes),
                            vocab, pretrained=True)
        model.cfg.embed_dim, model.cfg.hidden_size = model.hf.config.hidden_size, model.hf.config.hidden_size
        return TextClassifier(model.to(dev), vocab, max_len, dev)
    vocab = Vocabulary.build(train_texts, max_size=vocab_size, min_freq=min_freq, max_len=max_len)
    cfg = ModelConfig(architecture=architecture, vocab_size=len(vocab), num_classes=num_classes,
                      embed_dim=embed_dim or (GLOVE_DIM if glove else 128), hidden_size=hidden_size,
                      num_layers=layers, bidirectional=bidirectional, pooling=pooling, dropout=dropout)
    model = build_model(cfg, vocab)
    if glove:
        matrix, found = glove_matrix(vocab)
        model.embedding.weight.data[found] = matrix[found]
        note(f"GloVe: {int(found.sum())}/{len(vocab)} vocabulary words initialised")
    return TextClassifier(model.to(dev), vocab, max_len, dev)


def length_bucketed_batches(lengths: Sequence[int], batch_size: int, rng: random.Random) -> list[list[int]]:
    """Shuffled batches of indices; inside windows of 50 batches rows are sorted by length to cut padding."""
    order = list(range(len(lengths)))
    rng.shuffle(order)
    window = 50 * batch_size
    batches = []
    for start in range(0, len(order), window):
        chunk = sorted(order[start : start + window], key=lambda i: lengths[i])
        batches += [chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size)]
    rng.shuffle(batches)
    return batches


def fit_text(clf: TextClassifier, train_texts: Sequence[str], train_labels: Sequence[int],
             val_texts: Sequence[str], val_labels: Sequence[int], settings: TrainSettings,
             log: Callable[[str], None] = print, step: TrainStep | None = None, progress_file: Path | None = None,
             identity: dict | None = None, epoch_start: Callable[[int], None] | None = None) -> list[dict]:
    """Train ``clf`` on texts; validation accuracy every epoch, early stopping, best epoch kept,
    resumable through ``progress_file`` (see ``advtext.training.fit``)."""
    seed_everything(settings.seed)
    rng = random.Random(settings.seed)
    ids = clf.token_ids(train_texts)
    lengths = [len(r) for r in ids]

    def epoch_batches():
        for batch in length_bucketed_batches(lengths, settings.batch_size, rng):
            yield (pad_ids([ids[i] for i in batch], clf.device),
                   torch.tensor([train_labels[i] for i in batch], device=clf.device))

    return fit(clf.model, epoch_batches, len(ids), lambda: accuracy(clf, val_texts, val_labels), settings, log,
               step, progress_file, identity, epoch_start)
