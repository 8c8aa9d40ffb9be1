"""Text classifiers whose forward pass can start from word ids or from word embeddings.

Every model here has ``embedding`` (an ``nn.Embedding`` whose row 0 is ``<pad>``),
``forward(ids)`` and ``forward_embeddings(emb, mask)``; the attacks differentiate the latter
with respect to ``emb``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch
from torch import nn

from advtext.errors import AdvtextError

ARCHITECTURES = ("lstm", "cnn")


@dataclass
class ModelConfig:
    """Everything needed to rebuild a text model before its weights are loaded."""

    architecture: str = "lstm"
    vocab_size: int = 2
    num_classes: int = 2
    embed_dim: int = 128
    hidden_size: int = 128
    num_layers: int = 1
    bidirectional: bool = False
    pooling: str = "mean"
    dropout: float = 0.0
    kernel_sizes: list[int] = field(default_factory=lambda: [3, 4, 5])
    num_filters: int = 100

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> ModelConfig:
        known = cls.__dataclass_fields__
        unknown = set(d) - set(known)
        if unknown:
            raise AdvtextError(f"model config has unknown fields {sorted(unknown)}: it was not written by advtext")
        return cls(**d)


class LSTMClassifier(nn.Module):
    """Embedding -> (bi)LSTM -> masked mean pooling or last state -> dropout -> linear."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        if cfg.pooling not in ("mean", "last"):
            raise AdvtextError(f"unknown pooling {cfg.pooling!r}: use mean or last")
        self.cfg = cfg
        self.embedding = nn.Embedding(cfg.vocab_size, cfg.embed_dim, padding_idx=0)
        self.lstm = nn.LSTM(cfg.embed_dim, cfg.hidden_size, num_layers=cfg.num_layers, batch_first=True,
                            bidirectional=cfg.bidirectional, dropout=cfg.dropout if cfg.num_layers > 1 else 0.0)
        self.dropout = nn.Dropout(cfg.dropout)
        self.fc = nn.Linear(cfg.hidden_size * (2 if cfg.bidirectional else 1), cfg.num_classes)

    def hidden_states(self, emb: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Per-position LSTM outputs (B, T, H) for right-padded rows; padded positions are zeroed.

        A forward-only LSTM never sees the padding that follows a row, so it runs unpacked (faster);
        a bidirectional one is packed so that its backward direction starts at each row's end.
        """
        if not self.cfg.bidirectional:
            out, _ = self.lstm(emb)
            return out * mask.unsqueeze(-1).to(out.dtype)
        lengths = mask.sum(1).clamp(min=1).cpu()
        packed = nn.utils.rnn.pack_padded_sequence(emb, lengths, batch_first=True, enforce_sorted=False)
        out, _ = self.lstm(packed)
        out, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=emb.shape[1])
        return out

    def forward_embeddings(self, emb: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Logits (B, C) from embeddings (B, T, E) and a boolean mask (B, T) of real tokens."""
        h = self.hidden_states(emb, mask)
        if self.cfg.pooling == "mean":
            m = mask.unsqueeze(-1).to(h.dtype)
            pooled = (h * m).sum(1) / m.sum(1).clamp(min=1.0)
        else:
            last = (mask.sum(1).clamp(min=1) - 1).view(-1, 1, 1).expand(-1, 1, h.shape[2])
            pooled = h.gather(1, last).squeeze(1)
            if self.cfg.bidirectional:  # the backward direction's summary sits at position 0
                half = self.cfg.hidden_size
                pooled = torch.cat([pooled[:, :half], h[:, 0, half:]], dim=1)
        return self.fc(self.dropout(pooled))

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        mask = ids != 0
        return self.forward_embeddings(self.embedding(ids), mask)


class WordCNN(nn.Module):
    """Kim (2014): parallel 1-D convolutions over embeddings, max-pooled over time, dropout, linear."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.embedding = nn.Embedding(cfg.vocab_size, cfg.embed_dim, padding_idx=0)
        self.convs = nn.ModuleList(nn.Conv1d(cfg.embed_dim, cfg.num_filters, k) for k in cfg.kernel_sizes)
        self.dropout = nn.Dropout(cfg.dropout)
        self.fc = nn.Linear(cfg.num_filters * len(cfg.kernel_sizes), cfg.num_classes)

    def forward_embeddings(self, emb: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        width = max(self.cfg.kernel_sizes)
        x = emb * mask.unsqueeze(-1).to(emb.dtype)
        if x.shape[1] < width:  # convolutions need at least `width` positions
            x = nn.functional.pad(x, (0, 0, 0, width - x.shape[1]))
        x = x.transpose(1, 2)
        pooled = [torch.relu(conv(x)).amax(dim=2) for conv in self.convs]
        return self.fc(self.dropout(torch.cat(pooled, dim=1)))

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.forward_embeddings(self.embedding(ids), ids != 0)


def build_model(cfg: ModelConfig) -> nn.Module:
    """A freshly initialised model of ``cfg.architecture``."""
    if cfg.architecture == "lstm":
        return LSTMClassifier(cfg)
    if cfg.architecture == "cnn":
        return WordCNN(cfg)
    raise AdvtextError(f"unknown model {cfg.architecture!r}: use one of {', '.join(ARCHITECTURES)}")
