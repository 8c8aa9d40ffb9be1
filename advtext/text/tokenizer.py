"""Word-level tokenizer that keeps character spans, and the vocabulary saved with every model.

Tokens are lower-cased words (letters/digits with internal apostrophes: ``don't``) and single
punctuation characters. Every token remembers the ``(start, end)`` span of the original text it
came from, so an attack can rewrite exactly the words it changed and leave the rest of the text,
its case and its spacing untouched.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import NamedTuple

from advtext import strict_json
from advtext.errors import AdvtextError

PAD, UNK = "<pad>", "<unk>"
_TOKEN = re.compile(r"[^\W_]+(?:'[^\W_]+)*|[^\w\s]|_")


class Token(NamedTuple):
    """One token: its normalised text and the character span it came from (a tuple: an attack makes many)."""

    text: str
    start: int
    end: int


def tokenize(text: str) -> list[Token]:
    """Split ``text`` into lower-cased tokens with their character spans in ``text``."""
    return [Token(m.group().lower(), m.start(), m.end()) for m in _TOKEN.finditer(text)]


def is_punctuation(token: str) -> bool:
    """A token with no letter or digit (".", "?", "--")."""
    return not any(ch.isalnum() for ch in token)


def is_number(token: str) -> bool:
    """A bare number: digits and no letter ("1999", "3.5")."""
    return any(ch.isdigit() for ch in token) and not any(ch.isalpha() for ch in token)


def words(text: str) -> list[str]:
    """The token strings of ``text`` (no spans)."""
    return [m.group().lower() for m in _TOKEN.finditer(text)]


class Vocabulary:
    """Token <-> id map with ``<pad>`` = 0 and ``<unk>`` = 1, deterministic for a given corpus."""

    def __init__(self, itos: Sequence[str]):
        if len(itos) < 2 or itos[0] != PAD or itos[1] != UNK:
            raise AdvtextError("vocabulary must start with <pad>, <unk>: rebuild it with `advtext train`")
        self.itos = list(itos)
        self.stoi = {w: i for i, w in enumerate(self.itos)}
        if len(self.stoi) != len(self.itos):
            raise AdvtextError("vocabulary has duplicate tokens: rebuild it with `advtext train`")

    pad_id = 0
    unk_id = 1

    def __len__(self) -> int:
        return len(self.itos)

    @classmethod
    def build(cls, texts: Iterable[str], max_size: int | None = None, min_freq: int = 1,
              max_len: int | None = None) -> Vocabulary:
        """Most frequent tokens first (ties broken alphabetically), at most ``max_size`` of them.

        ``max_len`` counts only the first ``max_len`` tokens of each text, as the model sees them.
        """
        counts: Counter[str] = Counter()
        for text in texts:
            counts.update(words(text)[:max_len])
        ranked = sorted((w for w, c in counts.items() if c >= min_freq), key=lambda w: (-counts[w], w))
        return cls([PAD, UNK] + ranked[:max_size])

    def extend(self, tokens: Iterable[str]) -> list[str]:
        """Append the tokens not yet in the vocabulary, in order of first appearance; returns them (a
        word-piece model reads any word, so its vocabulary grows with the texts it is given)."""
        new = []
        for t in tokens:
            if t not in self.stoi:
                self.stoi[t] = len(self.itos)
                self.itos.append(t)
                new.append(t)
        return new

    def encode(self, tokens: Sequence[str]) -> list[int]:
        return [self.stoi.get(t, self.unk_id) for t in tokens]

    def decode(self, ids: Iterable[int]) -> list[str]:
        return [self.itos[i] for i in ids]

    def save(self, path: Path) -> None:
        path.write_text(strict_json.dumps(self.itos, ensure_ascii=False), encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> Vocabulary:
        try:
            itos = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise AdvtextError(f"{path} not found: the run directory holds no vocabulary") from None
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise AdvtextError(f"{path} is not a JSON vocabulary: retrain with `advtext train`") from None
        return cls(itos)
