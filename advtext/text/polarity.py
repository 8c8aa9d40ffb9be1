"""Word polarity from the VADER lexicon (Hutto & Gilbert 2014; MIT; PyPI ``vaderSentiment``, copied to
data/vader by ``make setup``), and the polarity guard built on it.

A word's valence is its mean human rating in the lexicon, from -4 (most negative) to +4; a word the
lexicon does not hold has none (0). A substitution breaks polarity when the new word carries the
opposite sign of the old word's valence ("delightfully" +2.7 -> "insipid" -2.0), or strong sentiment
(|valence| >= ``STRONG``) where the old word had none ("movie" -> "awful" -2.0), or when it removes
or brings in a negation ("never" -> "everything" turns the sentence around whatever the lexicon
says). The polarity guard forbids such substitutions in the attack (negations are never changed
nor inserted); the quality figures count the ones an attack made.
"""

from __future__ import annotations

from functools import lru_cache

import torch

from advtext.errors import AdvtextError
from advtext.text.tokenizer import Vocabulary

STRONG = 1.0  # VADER: "fine" 0.8 and "okay" 0.9 are mild; "good" 1.9 and "dull" -1.7 are not
NEGATIONS = frozenset({"not", "no", "never", "none", "nobody", "nothing", "neither", "nor", "nowhere", "cannot",
                       "without", "hardly", "barely", "scarcely", "seldom", "rarely"})
LEXICON = ("vader", "vader_lexicon.txt")


@lru_cache(maxsize=1)
def lexicon() -> dict[str, float]:
    """Word -> mean valence, from the fetched VADER lexicon (lower-case entries)."""
    from advtext.paths import corpus_file

    valence = {}
    for n, line in enumerate(corpus_file(*LEXICON).read_text(encoding="utf-8").splitlines(), 1):
        fields = line.split("\t")
        try:
            valence[fields[0].lower()] = float(fields[1])
        except (IndexError, ValueError):
            raise AdvtextError(f"{'/'.join(LEXICON)} line {n} is not `word<TAB>valence`: run `make setup` "
                               "again to fetch it") from None
    return valence


def is_negation(word: str) -> bool:
    """Whether the word negates what follows it (a contraction such as "doesn't" included)."""
    word = word.lower()
    return word in NEGATIONS or word.endswith("n't")


def negation_mask(vocab: Vocabulary) -> torch.Tensor:
    """Which vocabulary words are negations (V,)."""
    return torch.tensor([is_negation(w) for w in vocab.itos])


def valence(word: str) -> float:
    """The word's VADER valence (0 when the lexicon does not hold it)."""
    return lexicon().get(word.lower(), 0.0)


def vocabulary_valence(vocab: Vocabulary) -> torch.Tensor:
    """Valence of every vocabulary word (V,)."""
    return torch.tensor([valence(w) for w in vocab.itos], dtype=torch.float32)


def substitution_allowed(old: torch.Tensor, new: torch.Tensor) -> torch.Tensor:
    """Where replacing a word of valence ``old`` by one of valence ``new`` keeps polarity (broadcasting)."""
    opposite = old * new < 0
    from_none = (old == 0) & (new.abs() >= STRONG)
    return ~(opposite | from_none)


def breaks_polarity(old: str, new: str) -> bool:
    """Whether replacing the word ``old`` by ``new`` breaks polarity (see the module docstring)."""
    if is_negation(old) or is_negation(new):
        return True
    v_old, v_new = valence(old), valence(new)
    return v_old * v_new < 0 or (v_old == 0 and abs(v_new) >= STRONG)
