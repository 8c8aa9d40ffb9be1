"""The Szegedy et al. 2013 probe on text: the sentences whose LSTM hidden state (the pooled
representation fed to the output layer) most activates one unit, beside those that most activate a
random direction of the same space.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from advtext.errors import AdvtextError
from advtext.probe import unit_and_random_direction
from advtext.text.classifier import TextClassifier, pad_ids


@torch.no_grad()
def sentence_states(clf: TextClassifier, texts: Sequence[str], batch_size: int = 256) -> torch.Tensor:
    """The pooled LSTM state the output layer reads (the model's own pooling), one row (H,) per text."""
    model = clf.model
    model.eval()
    ids = clf.token_ids(texts)
    rows = []
    for start in range(0, len(ids), batch_size):
        batch = pad_ids(ids[start : start + batch_size], clf.device)
        mask = batch != 0
        rows.append(model.pooled(model.hidden_states(model.embedding(batch), mask), mask).cpu())
    return torch.cat(rows)


def text_probe(clf: TextClassifier, texts: Sequence[str], unit: int, k: int = 8, seed: int = 0) -> dict[str, list[str]]:
    """Top-``k`` texts for hidden unit ``unit`` and for a random direction (seeded)."""
    if not hasattr(clf.model, "pooled"):
        raise AdvtextError(f"the probe reads an LSTM's hidden states; this run is a {clf.config.architecture}")
    states = sentence_states(clf, texts)
    if not 0 <= unit < states.shape[1]:
        raise AdvtextError(f"unit {unit} out of range: the hidden state has units 0..{states.shape[1] - 1}")
    picked = unit_and_random_direction(states, unit, k, torch.Generator().manual_seed(seed))
    return {name: [texts[i] for i in idx.tolist()] for name, idx in picked.items()}
