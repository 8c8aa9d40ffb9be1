"""Word-level tokenizer that keeps character spans, and the vocabulary saved with every model.

Tokens are lower-cased words (letters/digits with internal apostrophes: ``don't``) and single
punctuation characters. Every token remembers the ``(start, end)`` span of the original text it
came from, so an attack can rewrite exactly the words it changed and leave the rest of the text,
its case and its spacing untouched.

No token holds whitespace and every other character falls in one, so a text's tokens are those of its
whitespace-separated chunks, one chunk after another, and a text has at least as many tokens as chunks
(``str.split`` and the pattern know the same whitespace).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import accumulate, chain, repeat
from pathlib import Path
from typing import NamedTuple, overload

from advtext import strict_json
from advtext.errors import AdvtextError

PAD, UNK = "<pad>", "<unk>"
_TOKEN = re.compile(r"[^\W_]+(?:'[^\W_]+)*|[^\w\s]|_")
_SPLIT = re.compile(f"({_TOKEN.pattern})")  # split() keeps the tokens: gap, token, gap, ..., token, gap
# An ASCII text takes a faster path to the same tokens: lower-cased whole, it keeps its length and every
# character's class, and the ASCII patterns match ASCII as the Unicode ones do (an ASCII \s lacks the separators
# \x1c-\x1f, which Unicode and str.split count as whitespace: they are named). Any other text is lower-cased
# token by token, since lower-casing it whole is not exact (a Greek final sigma; "İ" becomes two characters).
_TOKEN_ASCII = re.compile(r"[^\W_]+(?:'[^\W_]+)*|[^\w\s\x1c-\x1f]|_", re.ASCII)
_SPLIT_ASCII = re.compile(f"({_TOKEN_ASCII.pattern})", re.ASCII)


class Token(NamedTuple):
    """One token: its normalised text and the character span it came from."""

    text: str
    start: int
    end: int


@dataclass(frozen=True)
class Tokens:
    """A text's tokens as three parallel lists; indexing gives one ``Token``, slicing a ``Tokens``.

    Lists rather than one object per token: an attack splits every text it reads, and building the
    objects took half of that time.
    """

    words: list[str]
    starts: list[int]
    ends: list[int]

    def __len__(self) -> int:
        return len(self.words)

    @overload
    def __getitem__(self, index: int) -> Token: ...

    @overload
    def __getitem__(self, index: slice) -> Tokens: ...

    def __getitem__(self, index: int | slice) -> Token | Tokens:
        if isinstance(index, slice):
            return Tokens(self.words[index], self.starts[index], self.ends[index])
        return Token(self.words[index], self.starts[index], self.ends[index])

    def __iter__(self) -> Iterator[Token]:
        return map(Token, self.words, self.starts, self.ends)


def tokenize(text: str) -> Tokens:
    """Split ``text`` into lower-cased tokens with their character spans in ``text``."""
    if text.isascii():
        parts = _SPLIT_ASCII.split(text.lower())
        tokens = parts[1::2]
    else:
        parts = _SPLIT.split(text)
        tokens = list(map(str.lower, parts[1::2]))
    bounds = list(accumulate(map(len, parts)))  # the end of each part: a token's start, then its end
    return Tokens(tokens, bounds[0:-1:2], bounds[1::2])


def is_punctuation(token: str) -> bool:
    """A token with no letter or digit (".", "?", "--")."""
    return not any(ch.isalnum() for ch in token)


def is_number(token: str) -> bool:
    """A bare number: digits and no letter ("1999", "3.5")."""
    return any(ch.isdigit() for ch in token) and not any(ch.isalpha() for ch in token)


def words(text: str) -> list[str]:
    """The token strings of ``text`` (no spans)."""
    if text.isascii():
        return _TOKEN_ASCII.findall(text.lower())
    return list(map(str.lower, _TOKEN.findall(text)))


def capped_length(text: str, cap: int) -> int:
    """``min(len(words(text)), cap)``; a text of ``cap`` chunks or more is not split into tokens at all."""
    return cap if len(text.split()) >= cap else min(len(words(text)), cap)


def word_set(texts: Iterable[str]) -> frozenset[str]:
    """Every token of ``texts``: the tokens of their distinct chunks (a corpus repeats most of its chunks)."""
    return frozenset(chain.from_iterable(map(words, set(chain.from_iterable(map(str.split, texts))))))


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
        return list(map(self.stoi.get, tokens, repeat(self.unk_id)))

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
