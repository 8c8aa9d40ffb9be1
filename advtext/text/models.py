"""Text classifiers whose forward pass can start from word ids or from word embeddings.

Every model here has ``embedding`` (an ``nn.Embedding`` whose row 0 is ``<pad>``),
``forward(ids)`` and ``forward_embeddings(emb, mask)``; the attacks differentiate the latter
with respect to ``emb`` (through ``logits_from_words``, which also serves the word-piece
transformers of ``advtext.text.transformer``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from advtext.checkpoint import SavedConfig
from advtext.errors import AdvtextError

ARCHITECTURES = ("lstm", "cnn", "minilm")
SUFFIX_GROUP = 256  # candidates per LSTM call when checking one-word substitutions


@dataclass
class ModelConfig(SavedConfig):
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
            out, _ = self.recur(emb)
            return out * mask.unsqueeze(-1).to(out.dtype)
        lengths = mask.sum(1).clamp(min=1).cpu()
        packed = nn.utils.rnn.pack_padded_sequence(emb, lengths, batch_first=True, enforce_sorted=False)
        out, _ = self.recur(packed)
        out, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=emb.shape[1])
        return out

    def recur(self, x, state: tuple[torch.Tensor, torch.Tensor] | None = None):
        """The LSTM over float32 embeddings ``x`` (a tensor or a packed sequence). On a GPU it runs in float32 even
        under autocast: cuDNN has no bfloat16 LSTM, and autocast would run it in float16, not the bfloat16 asked."""
        data = x.data if isinstance(x, nn.utils.rnn.PackedSequence) else x
        if data.is_cuda and torch.is_autocast_enabled("cuda"):
            with torch.autocast("cuda", enabled=False):
                return self.lstm(x, None if state is None else tuple(t.float() for t in state))
        return self.lstm(x, state)

    def forward_embeddings(self, emb: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Logits (B, C) from embeddings (B, T, E) and a boolean mask (B, T) of real tokens."""
        return self.head(self.hidden_states(emb, mask), mask)

    def head(self, h: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Logits from the per-position LSTM outputs: pooling, dropout, linear."""
        return self.fc(self.dropout(self.pooled(h, mask)))

    def pooled(self, h: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """The sentence representation (B, H) the output layer reads: masked mean or last state."""
        if self.cfg.pooling == "mean":
            m = mask.unsqueeze(-1).to(h.dtype)
            pooled = (h * m).sum(1) / m.sum(1).clamp(min=1.0)
        else:
            last = (mask.sum(1).clamp(min=1) - 1).view(-1, 1, 1).expand(-1, 1, h.shape[2])
            pooled = h.gather(1, last).squeeze(1)
            if self.cfg.bidirectional:  # the backward direction's summary sits at position 0
                half = self.cfg.hidden_size
                pooled = torch.cat([pooled[:, :half], h[:, 0, half:]], dim=1)
        return pooled

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        mask = ids != 0
        return self.forward_embeddings(self.embedding(ids), mask)

    def _cell_states(self, emb: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """Cell states (B, T, H) of a one-layer forward LSTM, rebuilt from its outputs ``h``.

        The gates of every step come from one batched product with the previous outputs, and i_t * g_t for every
        step at once; only the elementwise recurrence c_t = f_t * c_{t-1} + i_t * g_t runs step by step.
        """
        lstm = self.lstm
        h_prev = torch.cat([h.new_zeros(h.shape[0], 1, h.shape[2]), h[:, :-1]], dim=1)
        gates = emb @ lstm.weight_ih_l0.T + lstm.bias_ih_l0 + h_prev @ lstm.weight_hh_l0.T + lstm.bias_hh_l0
        i, f, g, _ = gates.chunk(4, dim=-1)
        f, new = torch.sigmoid(f), torch.sigmoid(i) * torch.tanh(g)  # what each step adds, for every step at once
        c, states = h.new_zeros(h.shape[0], h.shape[2]), []
        for t in range(h.shape[1]):
            c = f[:, t] * c + new[:, t]
            states.append(c)
        return torch.stack(states, dim=1)

    def substitution_logits(self, ids: torch.Tensor, row: torch.Tensor, pos: torch.Tensor, word: torch.Tensor,
                            hidden: torch.Tensor | None = None) -> torch.Tensor:
        """Logits (N, C) of ``ids[row]`` with the word at ``pos`` replaced by ``word`` (all (N,)).

        A one-layer forward LSTM reruns only each candidate's suffix, from the state just before
        the changed word (the prefix is shared with the unchanged sentence), so checking many
        one-word substitutions costs about half as much as full forward passes. ``hidden``: the
        unchanged sentences' ``hidden_states``, when the caller has them already.
        """
        if self.cfg.num_layers != 1 or self.cfg.bidirectional:
            return full_substitution_logits(self, ids, row, pos, word)
        mask = ids != 0
        emb = self.embedding(ids)
        h = self.hidden_states(emb, mask) if hidden is None else hidden
        c = self._cell_states(emb, h)
        before = (pos - 1).clamp(min=0)
        first = (pos == 0)[:, None]
        h0 = h[row, before].masked_fill(first, 0.0)
        c0 = c[row, before].masked_fill(first, 0.0)
        suffix_len = mask.sum(1)[row] - pos
        # the output layer's precision: under autocast the groups' outputs may differ from the first pass's
        pooled = h.new_empty(len(row), h.shape[2], dtype=self.fc.weight.dtype)
        prefix_sums = h.cumsum(1)
        # candidates sorted by suffix length and run in groups, each padded only to its own longest
        order = suffix_len.argsort(descending=True)
        longest = suffix_len[order[::SUFFIX_GROUP]].tolist()  # each group's longest suffix, read back at once
        for group, width in zip(order.split(SUFFIX_GROUP), longest):
            steps = torch.arange(width, device=ids.device)
            n, p = suffix_len[group], pos[group]
            suffix_mask = steps[None] < n[:, None]
            suffix = ids[row[group][:, None], (p[:, None] + steps[None]).clamp(max=ids.shape[1] - 1)]
            suffix[:, 0] = word[group]
            suffix = suffix * suffix_mask
            out, _ = self.recur(self.embedding(suffix), (h0[group][None].contiguous(), c0[group][None].contiguous()))
            out = out * suffix_mask.unsqueeze(-1).to(out.dtype)
            if self.cfg.pooling == "mean":
                prefix = prefix_sums[row[group], (p - 1).clamp(min=0)].masked_fill((p == 0)[:, None], 0.0)
                pooled[group] = ((prefix + out.sum(1)) / (n + p)[:, None].to(out.dtype)).to(pooled.dtype)
            else:
                pooled[group] = out[torch.arange(len(group), device=ids.device), n - 1].to(pooled.dtype)
        return self.fc(self.dropout(pooled))


def substituted(ids: torch.Tensor, row: torch.Tensor, pos: torch.Tensor, word: torch.Tensor) -> torch.Tensor:
    """``ids[row]`` with the word at ``pos`` replaced by ``word`` (all (N,))."""
    trial = ids[row].clone()
    trial[torch.arange(len(row), device=ids.device), pos] = word
    return trial


def full_substitution_logits(model: nn.Module, ids: torch.Tensor, row: torch.Tensor, pos: torch.Tensor,
                             word: torch.Tensor) -> torch.Tensor:
    """Logits of ``ids[row]`` with ``ids[row, pos] = word``, by full forward passes (any model)."""
    return model(substituted(ids, row, pos, word))


def substitution_logits(model: nn.Module, ids: torch.Tensor, row: torch.Tensor, pos: torch.Tensor,
                        word: torch.Tensor, hidden: torch.Tensor | None = None) -> torch.Tensor:
    """One-word substitutions of a batch, checked as cheaply as the model allows (none: an empty (0, C))."""
    if row.numel() == 0:
        return torch.zeros(0, model.cfg.num_classes, device=ids.device)
    if isinstance(model, LSTMClassifier):
        return model.substitution_logits(ids, row, pos, word, hidden)
    return full_substitution_logits(model, ids, row, pos, word)


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
        """Max-pooling over the windows of each text's own words only, so that a batch's padding never
        changes a text's logits (a text shorter than a kernel has one window, zero-padded to its width)."""
        width = max(self.cfg.kernel_sizes)
        x = emb * mask.unsqueeze(-1).to(emb.dtype)
        if x.shape[1] < width:  # convolutions need at least `width` positions
            x = nn.functional.pad(x, (0, 0, 0, width - x.shape[1]))
        x = x.transpose(1, 2)
        lengths = mask.sum(1)
        pooled = []
        for conv, k in zip(self.convs, self.cfg.kernel_sizes):
            h = torch.relu(conv(x))  # (B, F, windows); relu >= 0, so 0 is neutral for the max
            last = lengths.clamp(min=k) - k  # each text's last window that starts and ends inside it
            inside = torch.arange(h.shape[2], device=h.device)[None] <= last[:, None]
            pooled.append(h.masked_fill(~inside[:, None], 0.0).amax(dim=2))
        return self.fc(self.dropout(torch.cat(pooled, dim=1)))

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.forward_embeddings(self.embedding(ids), ids != 0)


def logits_from_words(model: nn.Module, emb: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
    """Logits from the word vectors ``emb`` (B, T, E) of the word ids ``ids`` (B, T), for any text model."""
    if hasattr(model, "forward_words"):  # a word-piece transformer
        return model.forward_words(emb, ids)
    return model.forward_embeddings(emb, ids != 0)


def build_model(cfg: ModelConfig, vocab=None, pretrained: bool = False, run_dir=None) -> nn.Module:
    """A model of ``cfg.architecture``: freshly initialised, or (``minilm``) the pre-trained encoder with a new
    head when ``pretrained``, else its bare architecture for saved weights; ``minilm`` needs the vocabulary,
    ``hf`` (a hardened or fine-tuned ``hf:`` model) the run folder that holds its config and tokenizer."""
    if cfg.architecture == "lstm":
        return LSTMClassifier(cfg)
    if cfg.architecture == "cnn":
        return WordCNN(cfg)
    if cfg.architecture == "minilm":
        from advtext.text.transformer import minilm_classifier

        return minilm_classifier(cfg, vocab, pretrained)
    if cfg.architecture == "hf" and run_dir is not None:
        from advtext.text.transformer import HF_PARTS, bare_classifier

        if not (run_dir / HF_PARTS / "config.json").exists():
            raise AdvtextError(f"{run_dir} is a run of a Hugging Face model without its {HF_PARTS}/ folder (config and "
                               "tokenizer): restore the folder or train the run again")
        return bare_classifier(cfg, vocab, run_dir / HF_PARTS)
    raise AdvtextError(f"unknown model {cfg.architecture!r}: use one of {', '.join(ARCHITECTURES)}")
