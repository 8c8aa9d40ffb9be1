"""Transformer targets: a Hugging Face sequence classifier seen by the attacks as a word-level model.

The text stays a sequence of advtext's words; each vocabulary word has the word pieces the model's
tokenizer gives it alone (BERT's tokenizer splits at whitespace and punctuation before it cuts words
into pieces, so the pieces of the words, in order, are the pieces of the text). A row of word ids
becomes ``[CLS] pieces... [SEP]``, cut at the model's maximum length (said once).

For the attacks a word has a vector: the mean of its pieces' input embeddings (``embedding.weight``).
``forward_words(word_vectors, ids)`` moves every piece of a word by its word's displacement from that
mean; at the words' own vectors it is the model itself, and the gradient with respect to a word's
vector is the sum of its pieces' gradients. So papernot's sign rule and greedy's first-order gain
score a candidate word through its own pieces, whatever their number, and the best candidates are
then checked with real forward passes. Records keep word positions.

Sources: ``minilm`` (all-MiniLM-L6-v2 from data/minilm, fine-tuned by ``advtext train --model
minilm``) and ``hf:PATH`` (a user's local sequence-classification folder). Never a hub download.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

from advtext.errors import AdvtextError
from advtext.text.tokenizer import PAD, UNK, Vocabulary

WORD_CHUNK = 4096  # words per step when the word vectors are rebuilt
TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "vocab.json", "tokenizer.model", "spiece.model")


def quiet_transformers():
    """``transformers``, with its warnings and progress bars off (advtext says what matters itself)."""
    import transformers

    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()
    return transformers


def minilm_path() -> Path:
    """The all-MiniLM-L6-v2 folder ``make setup`` writes."""
    from advtext.paths import corpus_file

    return corpus_file("minilm", "config.json").parent


class WordVectors:
    """``weight``: each word's vector (V, E), the mean of its pieces' input embeddings; rebuilt when the piece
    embeddings or the vocabulary changed."""

    def __init__(self, owner: WordPieceClassifier):
        self._owner = owner
        self._key, self._table = None, None

    @property
    def weight(self) -> torch.Tensor:
        owner = self._owner
        pieces = owner.hf.get_input_embeddings().weight
        key = (pieces.data_ptr(), pieces._version, len(owner.piece_count))
        if key != self._key:
            with torch.no_grad():
                parts = []
                for start in range(0, len(owner.piece_count), WORD_CHUNK):
                    table = owner.piece_table[start : start + WORD_CHUNK]
                    count = owner.piece_count[start : start + WORD_CHUNK]
                    keep = (torch.arange(table.shape[1], device=table.device)[None] < count[:, None]).to(pieces.dtype)
                    parts.append((pieces[table] * keep[..., None]).sum(1) / count.clamp(min=1)[:, None])
                self._key, self._table = key, torch.cat(parts)
        return self._table

    def __call__(self, ids: torch.Tensor) -> torch.Tensor:
        return self.weight[ids]


class WordPieceClassifier(nn.Module):
    """A Hugging Face sequence classifier behind word ids (see the module docstring)."""

    def __init__(self, cfg, hf: nn.Module, tokenizer, vocab: Vocabulary):
        super().__init__()
        self.cfg, self.hf, self.tokenizer = cfg, hf, tokenizer
        limit = min(getattr(tokenizer, "model_max_length", 512) or 512, hf.config.max_position_embeddings)
        self.max_pieces = limit - 2
        self.special = (tokenizer.cls_token_id, tokenizer.sep_token_id, tokenizer.pad_token_id)
        if None in self.special:
            raise AdvtextError("the tokenizer has no [CLS]/[SEP]/[PAD] tokens: advtext reads BERT-style classifiers")
        self.register_buffer("piece_table", torch.zeros(0, 1, dtype=torch.long), persistent=False)
        self.register_buffer("piece_count", torch.zeros(0, dtype=torch.long), persistent=False)
        self.embedding = WordVectors(self)
        self.truncation_said = False
        self.add_words(vocab.itos)

    def add_words(self, new_words: Sequence[str]) -> None:
        """Append the pieces of ``new_words`` (in vocabulary order) to the table: ``<pad>`` has none,
        ``<unk>`` is the tokenizer's unknown piece."""
        new_words = list(new_words)
        unk = self.tokenizer.unk_token_id
        tokenized = self.tokenizer(new_words, add_special_tokens=False)["input_ids"] if new_words else []
        pieces = [[] if w == PAD else [unk] if w == UNK else (p or [unk]) for w, p in zip(new_words, tokenized)]
        width = max([self.piece_table.shape[1], *map(len, pieces)])
        table = torch.zeros(len(pieces), width, dtype=torch.long)
        for i, p in enumerate(pieces):
            table[i, : len(p)] = torch.tensor(p, dtype=torch.long)
        old = nn.functional.pad(self.piece_table, (0, width - self.piece_table.shape[1]))
        device = self.piece_table.device
        self.piece_table = torch.cat([old, table.to(device)])
        self.piece_count = torch.cat([self.piece_count, torch.tensor([len(p) for p in pieces], device=device)])
        self.cfg.vocab_size = len(self.piece_count)

    def _layout(self, ids: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Piece ids (B, L) and attention mask of the rows of word ids, and for every piece kept its row,
        its word's position and its place in the row."""
        count = self.piece_count[ids]
        keep = torch.arange(self.piece_table.shape[1], device=ids.device)[None, None] < count[..., None]
        row, word, piece = keep.nonzero(as_tuple=True)  # row-major: rows, then words, then pieces in order
        lengths = count.sum(1)
        place = torch.arange(len(row), device=ids.device) - (lengths.cumsum(0) - lengths)[row]
        inside = place < self.max_pieces
        if not bool(inside.all()):
            if not self.truncation_said:
                print(f"note: texts longer than {self.max_pieces} word pieces are cut to fit the model "
                      "(said once)", file=sys.stderr)
                self.truncation_said = True
            row, word, piece, place = row[inside], word[inside], piece[inside], place[inside]
        kept = lengths.clamp(max=self.max_pieces)
        cls, sep, pad = self.special
        width = int(kept.max()) + 2 if len(kept) else 2
        input_ids = torch.full((len(ids), width), pad, dtype=torch.long, device=ids.device)
        input_ids[:, 0] = cls
        input_ids[row, place + 1] = self.piece_table[ids[row, word], piece]
        input_ids[torch.arange(len(ids), device=ids.device), kept + 1] = sep
        attention = torch.arange(width, device=ids.device)[None] < (kept + 2)[:, None]
        return input_ids, attention.long(), row, word, place + 1

    def visible_words(self, ids: torch.Tensor) -> torch.Tensor:
        """Which words (B, T) have all their pieces within the model's positions (the others are cut)."""
        return self.piece_count[ids].cumsum(1) <= self.max_pieces

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        input_ids, attention, *_ = self._layout(ids)
        return self.hf(input_ids=input_ids, attention_mask=attention).logits

    def forward_words(self, word_vectors: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        """Logits (B, C) with every piece moved by its word's displacement ``word_vectors - embedding(ids)``."""
        input_ids, attention, row, word, place = self._layout(ids)
        embedded = self.hf.get_input_embeddings()(input_ids)
        shift = word_vectors - self.embedding.weight[ids].to(word_vectors.dtype)
        moved = embedded.index_put((row, place), shift[row, word], accumulate=True)
        return self.hf(inputs_embeds=moved, attention_mask=attention).logits

    def forward_embeddings(self, emb: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        raise AdvtextError("a word-piece model needs the word ids with its word vectors: use forward_words")


def minilm_classifier(cfg, vocab: Vocabulary, pretrained: bool) -> WordPieceClassifier:
    """MiniLM with a classification head of ``cfg.num_classes``: the pre-trained encoder (a fresh head) to
    fine-tune, or the bare architecture that a saved run's weights then fill."""
    tf = quiet_transformers()
    path = str(minilm_path())
    if pretrained:
        tokenizer = tf.AutoTokenizer.from_pretrained(path, local_files_only=True)
        hf = tf.AutoModelForSequenceClassification.from_pretrained(path, num_labels=cfg.num_classes,
                                                                   local_files_only=True, dtype=torch.float32)
        return WordPieceClassifier(cfg, hf, tokenizer, vocab)
    return bare_classifier(cfg, vocab, path)


def bare_classifier(cfg, vocab: Vocabulary, folder: str | Path) -> WordPieceClassifier:
    """The architecture and tokenizer of the Hugging Face folder ``folder``, with ``cfg.num_classes`` labels and
    untrained weights, for a saved run's weights to fill."""
    tf = quiet_transformers()
    tokenizer = tf.AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    config = tf.AutoConfig.from_pretrained(str(folder), num_labels=cfg.num_classes, local_files_only=True)
    return WordPieceClassifier(cfg, tf.AutoModelForSequenceClassification.from_config(config), tokenizer, vocab)


HF_PARTS = "hf"  # a run of a user's hf: model keeps the model's config and tokenizer here (its weights: the run's)


def save_hf_parts(model: WordPieceClassifier, run_dir: Path) -> None:
    """The config and tokenizer that rebuild a user's ``hf:`` model, into ``run_dir/hf``."""
    model.hf.config.save_pretrained(str(run_dir / HF_PARTS))
    model.tokenizer.save_pretrained(str(run_dir / HF_PARTS))


def export_hf(model: WordPieceClassifier, out: Path) -> None:
    """``model`` as a standard Hugging Face sequence-classification folder (config, weights, tokenizer)."""
    model.hf.save_pretrained(str(out))
    model.tokenizer.save_pretrained(str(out))


PROBE = "Wonderful, UNWATCHABLE film -- it's Kubrick's best? No: 2 stars."


def check_word_pieces(tokenizer, path: Path) -> None:
    """advtext joins the pieces of each (lower-cased) word alone; the tokenizer must cut a text the same way,
    as an uncased WordPiece (BERT-style) tokenizer does. Cased and byte-level BPE tokenizers are refused."""
    from advtext.text.tokenizer import words

    whole = tokenizer(PROBE, add_special_tokens=False)["input_ids"]
    by_word = [p for w in words(PROBE) for p in tokenizer(w, add_special_tokens=False)["input_ids"]]
    if whole != by_word:
        raise AdvtextError(f"hf:{path}: its tokenizer does not cut text at advtext's lower-cased words (a cased or "
                           "byte-level BPE tokenizer?): advtext reads uncased BERT-style classifiers for now")


def load_hf_directory(path: str | Path, device: torch.device):
    """A user's local Hugging Face sequence classifier (config.json, weights, tokenizer) as a ``TextClassifier``
    whose vocabulary starts with the tokenizer's whole words."""
    from advtext.checkpoint import weights_digest
    from advtext.text.classifier import TextClassifier
    from advtext.text.models import ModelConfig

    tf = quiet_transformers()
    path = Path(path)
    if not (path / "config.json").exists():
        raise AdvtextError(f"hf:{path} is not a Hugging Face model folder (no config.json): give the folder that "
                           "`save_pretrained` wrote")
    config = tf.AutoConfig.from_pretrained(str(path), local_files_only=True)
    if not any(a.endswith("ForSequenceClassification") for a in (config.architectures or [])):
        raise AdvtextError(f"hf:{path} holds a {', '.join(config.architectures or ['bare'])} model without a "
                           "classification head: give a fine-tuned sequence classifier")
    no_tokenizer = AdvtextError(f"hf:{path} has no tokenizer that can be read: save the tokenizer into the folder "
                                "(`tokenizer.save_pretrained`)")
    if not any((path / name).exists() for name in TOKENIZER_FILES):
        raise no_tokenizer
    try:
        tokenizer = tf.AutoTokenizer.from_pretrained(str(path), local_files_only=True)
    except (OSError, ValueError, TypeError):
        raise no_tokenizer from None
    try:
        # float32 whatever the folder was saved in: the attacks, the final recheck and fine-tuning assume it
        hf = tf.AutoModelForSequenceClassification.from_pretrained(str(path), local_files_only=True,
                                                                   dtype=torch.float32)
    except (OSError, ValueError) as e:
        raise AdvtextError(f"hf:{path}: the weights cannot be read ({type(e).__name__}): check the folder") from None
    check_word_pieces(tokenizer, path)
    whole = sorted(w for w in tokenizer.get_vocab() if w.isalpha() and w.isascii())
    vocab = Vocabulary([PAD, UNK, *whole])
    cfg = ModelConfig(architecture="hf", vocab_size=len(vocab), num_classes=config.num_labels,
                      embed_dim=config.hidden_size)
    model = WordPieceClassifier(cfg, hf, tokenizer, vocab).to(device).eval()
    weights = next((path / n for n in ("model.safetensors", "pytorch_model.bin") if (path / n).exists()), None)
    info = {"source": f"hf:{path}", "weights_sha256": weights_digest(weights) if weights else None}
    return TextClassifier(model, vocab, None, device, info)
