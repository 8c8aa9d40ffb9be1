"""Whether adversarial texts keep what a human reads: per-text figures for each record, and their
summary over an attack's successes.

A success rate says little while the changes alter the meaning. These figures say how often they
do in ways a lexicon or a character class can see: a change that breaks polarity (a word of the
opposite sentiment, or strong sentiment where there was none; see ``advtext.text.polarity``), a
change that touches punctuation, a word replaced by a number or by a word the corpus never uses (a
transformer's tokenizer knows many words no review contains); and which substitutes the attack leans
on (a few words used again and again are usually label words).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Container, Iterable

from advtext.text.polarity import breaks_polarity
from advtext.text.tokenizer import is_number, is_punctuation, word_set

TOP_SUBSTITUTES = 5


class CorpusWords(Container[str]):
    """The (lower-cased) words that ``texts`` use: a substitute outside them is a word the corpus never has.
    Gathered on the first question (tokenising 50,000 reviews takes seconds), so a resumed attack with
    nothing left to do never pays for it."""

    def __init__(self, texts: Iterable[str]):
        self._texts, self._words = texts, None

    def __contains__(self, word: object) -> bool:
        if self._words is None:
            self._words = word_set(self._texts)
            self._texts = None
        return word in self._words


def change_figures(changes: list[dict], corpus_words: Container[str] | None = None) -> dict:
    """Per text: how many of its changes break polarity, touch punctuation, bring in a number, or bring in a
    word outside ``corpus_words`` (None when no corpus vocabulary was given)."""
    return {"polarity_breaks": sum(breaks_polarity(c["old"], c["new"]) for c in changes),
            "punctuation_changes": sum(is_punctuation(c["old"]) or is_punctuation(c["new"]) for c in changes),
            "number_changes": sum(is_number(c["new"]) and not is_number(c["old"]) for c in changes),
            "outside_corpus_changes": None if corpus_words is None else
            sum(c["new"].lower() not in corpus_words for c in changes)}


def quality_summary(successes: list[dict]) -> dict:
    """Over successful records: their mean sentence similarity to the originals, the share of texts with a
    polarity-breaking change, the shares of changes that touch punctuation, bring in a number or a word outside
    the corpus (None where a record has no such count), and the most used substitutes with their share of
    changes (None where there is no success)."""
    changes = [c for r in successes for c in r["changes"]]
    per_text = [r.get("quality") or change_figures(r["changes"]) for r in successes]  # files before figures: computed
    share = lambda n, d: n / d if d else None  # noqa: E731
    used = Counter(c["new"].lower() for c in changes)
    similarity = [r["quality"]["similarity"] for r in successes if r.get("quality", {}).get("similarity") is not None]
    return {
        "mean_similarity": sum(similarity) / len(similarity) if similarity else None,
        "texts_with_polarity_break": share(sum(f["polarity_breaks"] > 0 for f in per_text), len(per_text)),
        "changes_touching_punctuation": share(sum(f["punctuation_changes"] for f in per_text), len(changes)),
        "changes_to_numbers": share(sum(f["number_changes"] for f in per_text), len(changes)),
        "changes_outside_corpus": (None if any(f.get("outside_corpus_changes") is None for f in per_text) else
                                   share(sum(f["outside_corpus_changes"] for f in per_text), len(changes))),
        "top_substitutes": [{"word": w, "share": n / len(changes)} for w, n in used.most_common(TOP_SUBSTITUTES)],
    }
