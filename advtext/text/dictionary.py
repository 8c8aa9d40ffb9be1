"""Substitution dictionaries and the word-level constraints that compose with them.

A ``Dictionary`` says, for a model vocabulary, which words may replace which:

* ``vocab``: every vocabulary word (the paper's D), minus ``<pad>``/``<unk>``;
* ``wordnet``: WordNet 3.0 synonyms (offline copy from ``make setup``) that are in the vocabulary;
* ``glove:T``: vocabulary words whose GloVe 6B-50d cosine similarity to the word is at least T;
* ``glove-safe:T``: the same minus WordNet antonyms of any sense of the word (GloVe puts "good"
  next to "bad"): the label-preserving default for adversarial training.

Constraints: stopwords never changed and never inserted; punctuation never changed, and neither it nor a
bare number ever inserted (``--protect-punctuation``: the GloVe and whole-vocabulary dictionaries offer
"?" for "fun" otherwise); optional part-of-speech agreement (the two
words share a WordNet part of speech; words WordNet does not know count as one class); the optional
polarity guard (``advtext.text.polarity``: no substitute of the opposite sentiment, none of strong
sentiment for a word without any).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import torch

from advtext.errors import AdvtextError
from advtext.text.tokenizer import Vocabulary, is_number, is_punctuation

MAX_NEIGHBOURS = 50


@dataclass
class Dictionary:
    """``allowed`` (V,) words that may be inserted; ``candidates`` (V, K) per-word lists, -1 padded,
    or None when any allowed word may replace any other; ``protected`` (V,) words never changed.

    A pair constraint on a whole-vocabulary dictionary (the polarity guard) puts each word in a class
    (``word_class`` (V,)) and says which words may replace a word of each class (``allowed_by_class``
    (C, V), within ``allowed``); candidate lists have such constraints applied when they are built."""

    name: str
    allowed: torch.Tensor
    protected: torch.Tensor
    candidates: torch.Tensor | None = None
    word_class: torch.Tensor | None = None
    allowed_by_class: torch.Tensor | None = None

    def to(self, device: torch.device) -> Dictionary:
        move = lambda t: None if t is None else t.to(device)  # noqa: E731
        return Dictionary(self.name, self.allowed.to(device), self.protected.to(device), move(self.candidates),
                          move(self.word_class), move(self.allowed_by_class))

    def has_candidates(self, ids: torch.Tensor) -> torch.Tensor:
        """Which of the word ids have at least one allowed substitute."""
        if self.candidates is None:
            return torch.ones_like(ids, dtype=torch.bool)
        return (self.candidates[ids] >= 0).any(-1)


def stopword_mask(vocab: Vocabulary) -> torch.Tensor:
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    return torch.tensor([w in ENGLISH_STOP_WORDS for w in vocab.itos])


@lru_cache(maxsize=1)
def wordnet():
    """NLTK's reader over the LF copy of WordNet 3.0 that `make setup` writes to data/nltk."""
    import nltk

    from advtext.paths import corpus_file

    root = str(corpus_file("nltk", "corpora", "wordnet").parents[1])
    if root not in nltk.data.path:
        nltk.data.path.insert(0, root)
    from nltk.corpus import wordnet as wn

    wn.ensure_loaded()
    return wn


def wordnet_pos(vocab: Vocabulary) -> torch.Tensor:
    """Bit set of WordNet parts of speech per word (n=1, v=2, a/s=4, r=8; 0 = unknown to WordNet)."""
    wn = wordnet()
    bits = {"n": 1, "v": 2, "a": 4, "s": 4, "r": 8}
    return torch.tensor([sum({bits[s.pos()] for s in wn.synsets(w)}) if w.isalpha() else 0 for w in vocab.itos])


def _wordnet_neighbours(vocab: Vocabulary) -> list[list[int]]:
    wn = wordnet()
    out = []
    for w in vocab.itos:
        names = {lemma.name().lower() for s in wn.synsets(w) for lemma in s.lemmas()} if w.isalpha() else set()
        out.append(sorted(vocab.stoi[n] for n in names if n != w and n in vocab.stoi)[:MAX_NEIGHBOURS])
    return out


def outside_synonyms(spec: str, vocab: Vocabulary, word_lists: Iterable[Sequence[str]]) -> list[str]:
    """The WordNet synonyms (single words) of the words in ``word_lists`` that ``vocab`` lacks, when ``spec`` is
    the WordNet dictionary: a model that reads any word (a word-piece transformer) takes them into its vocabulary
    so that its dictionary offers every synonym, as PWWS does; an LSTM's or CNN's stays within its vocabulary."""
    if parse_dictionary_spec(spec)[0] != "wordnet":
        return []
    wn = wordnet()
    found = set()
    for w in {w for ws in word_lists for w in ws if w.isalpha()}:
        found |= {lemma.name().lower() for s in wn.synsets(w) for lemma in s.lemmas()}
    return sorted(n for n in found if n.isalpha() and n.isascii() and n not in vocab.stoi)


def _wordnet_antonyms(vocab: Vocabulary) -> list[set[int]]:
    """Per word, the vocabulary ids of the antonyms of every lemma of every synset it belongs to."""
    wn = wordnet()
    out = []
    for w in vocab.itos:
        names = ({a.name().lower() for s in wn.synsets(w) for lemma in s.lemmas() for a in lemma.antonyms()}
                 if w.isalpha() else set())
        out.append({vocab.stoi[n] for n in names if n in vocab.stoi})
    return out


def _glove_neighbours(vocab: Vocabulary, threshold: float) -> list[list[int]]:
    from advtext.text.embeddings import glove_matrix

    matrix, found = glove_matrix(vocab)
    unit = torch.nn.functional.normalize(matrix, dim=1)
    out = []
    for start in range(0, len(vocab), 2048):
        sim = unit[start : start + 2048] @ unit.T
        sim[:, ~found] = -float("inf")
        sim[torch.arange(sim.shape[0]), torch.arange(start, start + sim.shape[0])] = -float("inf")
        value, index = sim.topk(min(MAX_NEIGHBOURS, len(vocab)), dim=1)
        for v, i, ok in zip(value, index, found[start : start + 2048]):
            out.append(i[v >= threshold].tolist() if ok else [])
    return out


def _pad(lists: list[list[int]]) -> torch.Tensor:
    width = max(1, max(len(x) for x in lists))
    table = torch.full((len(lists), width), -1, dtype=torch.long)
    for i, x in enumerate(lists):
        table[i, : len(x)] = torch.tensor(x, dtype=torch.long)
    return table


def parse_dictionary_spec(spec: str) -> tuple[str, float | None]:
    """The kind (vocab, wordnet, glove, glove-safe) and cosine threshold named by ``spec``, checked."""
    if spec in ("vocab", "wordnet"):
        return spec, None
    kind, _, value = spec.partition(":")
    if kind in ("glove", "glove-safe"):
        try:
            threshold = float(value)
        except ValueError:
            threshold = 2.0
        if not -1 < threshold <= 1:
            raise AdvtextError(f"dictionary {spec!r}: the cosine threshold must be in (-1, 1], e.g. {kind}:0.7")
        return kind, threshold
    raise AdvtextError(f"unknown dictionary {spec!r}: use vocab, wordnet, glove:T or glove-safe:T (e.g. glove:0.7)")


def protects_punctuation(method: str, asked: bool | None = None) -> bool:
    """Whether an attack keeps punctuation and numbers out: as ``asked``, else on in the improved mode (greedy,
    and its query-only form) and off in the faithful one (papernot: the paper's whole vocabulary)."""
    return asked if asked is not None else method != "papernot"


def punctuation_masks(vocab: Vocabulary) -> tuple[torch.Tensor, torch.Tensor]:
    """(V,) masks of the punctuation tokens and of the bare numbers of ``vocab``."""
    words = vocab.itos[2:]  # <pad> and <unk> are neither
    punct = torch.tensor([False, False] + [is_punctuation(w) for w in words])
    numbers = torch.tensor([False, False] + [is_number(w) for w in words])
    return punct, numbers


def build_dictionary(spec: str, vocab: Vocabulary, protect_stopwords: bool = False,
                     pos_agreement: bool = False, polarity_guard: bool = False,
                     protect_punctuation: bool = False) -> Dictionary:
    """The dictionary named by ``spec`` (``vocab``, ``wordnet``, ``glove:T`` or ``glove-safe:T``) with its
    constraints."""
    if pos_agreement and spec == "vocab":
        raise AdvtextError("--pos needs a synonym dictionary (wordnet or glove:T), not the whole vocabulary")
    allowed = torch.ones(len(vocab), dtype=torch.bool)
    allowed[[Vocabulary.pad_id, Vocabulary.unk_id]] = False
    protected = torch.zeros(len(vocab), dtype=torch.bool)
    protected[Vocabulary.pad_id] = True
    if protect_stopwords:
        stop = stopword_mask(vocab)
        allowed &= ~stop
        protected |= stop
    if protect_punctuation:
        punct, numbers = punctuation_masks(vocab)
        allowed &= ~(punct | numbers)
        protected |= punct
    kind, threshold = parse_dictionary_spec(spec)
    if kind == "vocab":
        neighbours = None
    elif kind == "wordnet":
        neighbours = _wordnet_neighbours(vocab)
    else:
        neighbours = _glove_neighbours(vocab, threshold)
        if kind == "glove-safe":
            antonyms = _wordnet_antonyms(vocab)
            neighbours = [[z for z in zs if z not in antonyms[w]] for w, zs in enumerate(neighbours)]
    if pos_agreement:
        pos = wordnet_pos(vocab)
        neighbours = [[z for z in zs if pos[z] & pos[w] or pos[z] == pos[w]] for w, zs in enumerate(neighbours)]
    word_class = allowed_by_class = None
    if polarity_guard:
        from advtext.text.polarity import negation_mask, substitution_allowed, vocabulary_valence

        negations = negation_mask(vocab)  # never changed, never inserted
        protected |= negations
        protected[Vocabulary.unk_id] = True  # a word the vocabulary lacks has a polarity the guard cannot see
        allowed &= ~negations
        val = vocabulary_valence(vocab)
        if neighbours is not None:  # one masked operation over every (word, candidate) pair
            lists = _pad(neighbours)
            keep = (lists >= 0) & substitution_allowed(val[:, None], val[lists.clamp(min=0)])
            neighbours = [row[ok].tolist() for row, ok in zip(lists, keep)]
        else:  # the rule depends on the replaced word only through the sign of its valence
            word_class = (torch.sign(val) + 1).long()
            allowed_by_class = substitution_allowed(torch.tensor([-1.0, 0.0, 1.0])[:, None], val[None]) & allowed
    candidates = None
    if neighbours is not None:
        neighbours = [[z for z in zs if allowed[z]] for zs in neighbours]
        candidates = _pad(neighbours)
    return Dictionary(spec, allowed, protected, candidates, word_class, allowed_by_class)
