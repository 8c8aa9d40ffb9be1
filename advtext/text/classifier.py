"""A trained text classifier: model + vocabulary + the length it reads, saved as one run directory."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path

import numpy as np
import torch
from torch import nn

from advtext.checkpoint import load_config, load_weights, save_model
from advtext.engine import evaluate, select_device
from advtext.errors import AdvtextError
from advtext.text.models import ModelConfig, build_model
from advtext.text.tokenizer import Vocabulary, words

VOCAB = "vocab.json"


def pad_ids(rows: Sequence[Sequence[int]], device: torch.device | str = "cpu") -> torch.Tensor:
    """Right-padded (B, T) id tensor, T = longest row (at least 1)."""
    lengths = np.fromiter(map(len, rows), dtype=np.int64, count=len(rows))
    out = np.zeros((len(rows), max(1, int(lengths.max(initial=1)))), dtype=np.int64)
    out[np.arange(out.shape[1]) < lengths[:, None]] = np.fromiter(chain.from_iterable(rows), dtype=np.int64,
                                                                  count=int(lengths.sum()))
    return torch.from_numpy(out).to(device)


def check_labels_fit(num_classes: int, labels: Sequence[int], source: str, exact: bool = False) -> None:
    """The labels must be classes 0..num_classes-1 of the model; with ``exact`` (a whole labelled split given to a
    Hugging Face model, whose head advtext did not train) they must be exactly its classes."""
    if not labels:
        return
    top, bottom = max(labels), min(labels)
    if bottom < 0 or top >= num_classes:
        raise AdvtextError(f"{source}: label {bottom if bottom < 0 else top} out of range, the model has classes "
                           f"0..{num_classes - 1}: measure it on a corpus with the same classes")
    if exact and top + 1 != num_classes:
        raise AdvtextError(f"the model has {num_classes} classes but {source} has {top + 1}: give a corpus labelled "
                           "with the model's classes")


@dataclass
class TextClassifier:
    """What every text command works with: encode texts, predict, save and load."""

    model: nn.Module
    vocab: Vocabulary
    max_len: int | None
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    info: dict = field(default_factory=dict)

    @property
    def config(self) -> ModelConfig:
        return self.model.cfg

    @property
    def num_classes(self) -> int:
        return self.config.num_classes

    @property
    def fingerprint(self) -> str | None:
        """sha256 of the saved weights (None for a model never saved): what attack records are tied to."""
        return self.info.get("weights_sha256")

    def cover(self, texts: Sequence[str], dictionaries: Sequence[str] = ()) -> None:
        """A word-piece model reads any word: add the words of ``texts`` its vocabulary lacks, with their pieces,
        and the synonyms that the ``dictionaries`` (specs) would offer for them (see
        ``dictionary.outside_synonyms``); LSTM and CNN: nothing, their unknown words are ``<unk>``. Call it
        before building a dictionary."""
        word_lists = [words(t)[: self.max_len] for t in texts]
        self._cover_words(word_lists)
        if hasattr(self.model, "add_words"):
            from advtext.text.dictionary import outside_synonyms

            for spec in dictionaries:
                self._cover_words([outside_synonyms(spec, self.vocab, word_lists)])

    def _cover_words(self, word_lists: Sequence[Sequence[str]]) -> None:
        if hasattr(self.model, "add_words"):
            new = self.vocab.extend(w for ws in word_lists for w in ws)
            if new:
                self.model.add_words(new)

    def token_ids(self, texts: Sequence[str]) -> list[list[int]]:
        """Vocabulary ids of each text's tokens, truncated to ``max_len``."""
        return self.word_ids([words(t) for t in texts])

    def word_ids(self, word_lists: Sequence[list[str]]) -> list[list[int]]:
        """``token_ids`` of texts already split into their tokens (``words``)."""
        word_lists = [ws[: self.max_len] for ws in word_lists]
        self._cover_words(word_lists)
        return [self.vocab.encode(ws) for ws in word_lists]

    def logits(self, ids: torch.Tensor, batch_size: int = 512) -> torch.Tensor:
        """Logits for a padded id batch, without gradients."""
        self.model.eval()
        return evaluate(self.model, ids.to(self.device), chunk_size=batch_size)

    def predict_proba(self, texts: Sequence[str], batch_size: int = 512) -> torch.Tensor:
        """Class probabilities (N, C) for raw texts, batched by similar length."""
        return self.predict_proba_words([words(t) for t in texts], batch_size)

    def predict_proba_words(self, word_lists: Sequence[list[str]], batch_size: int = 512) -> torch.Tensor:
        """``predict_proba`` of texts already split into their tokens (``words``)."""
        ids = self.word_ids(word_lists)
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        probs = torch.empty(len(ids), self.num_classes)
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            probs[idx] = torch.softmax(self.logits(pad_ids([ids[i] for i in idx])), -1).float().cpu()
        return probs

    def save(self, run_dir: Path, **info) -> None:
        """Weights, config (model, max_len, anything in ``info``) and vocabulary into ``run_dir``."""
        config = {"domain": "text", "model": self.config.to_dict(), "max_len": self.max_len, **self.info, **info}
        save_model(run_dir, self.model, config)
        self.vocab.save(run_dir / VOCAB)
        if self.config.architecture == "hf":
            from advtext.text.transformer import save_hf_parts

            save_hf_parts(self.model, run_dir)

    @classmethod
    def load(cls, run_dir: str | Path, device: str | torch.device = "auto") -> TextClassifier:
        """Rebuild the model from ``config.json``, load its weights and vocabulary, check they agree;
        ``hf:PATH`` loads a local Hugging Face sequence classifier instead (see ``advtext.text.transformer``)."""
        if str(run_dir).startswith("hf:"):
            from advtext.text.transformer import load_hf_directory

            return load_hf_directory(str(run_dir)[3:], select_device(device) if isinstance(device, str) else device)
        run_dir = Path(run_dir)
        config = load_config(run_dir, "text")
        vocab = Vocabulary.load(run_dir / VOCAB)
        cfg = ModelConfig.from_dict(config["model"])
        if cfg.vocab_size != len(vocab):
            raise AdvtextError(f"{run_dir}: config.json expects {cfg.vocab_size} words but vocab.json has "
                               f"{len(vocab)}; the files come from different runs, retrain the model")
        max_len = config.get("max_len")
        if max_len is not None and (not isinstance(max_len, int) or isinstance(max_len, bool) or max_len < 1):
            raise AdvtextError(f"{run_dir / 'config.json'}: max_len {max_len!r} is not a positive number of tokens: "
                               "restore the file or retrain the model")
        device = select_device(device) if isinstance(device, str) else device
        model = load_weights(run_dir, build_model(cfg, vocab, run_dir=run_dir), config).to(device).eval()
        info = {k: v for k, v in config.items() if k not in ("domain", "model", "max_len")}
        return cls(model, vocab, max_len, device, info)
