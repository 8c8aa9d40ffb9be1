"""advtext from Python: load a classifier, attack a list of texts, get records and statistics back.

    from advtext import load_classifier, attack, summarize

    clf = load_classifier("runs/rt-lstm")                # a run of advtext's, or "hf:PATH"
    records = attack(clf, ["a gorgeous, witty film"], [1], method="greedy", dictionary="wordnet")
    print(summarize(records)["success_rate"])

The records are those `advtext attack` writes (one dict per text, in the order given); the statistics
those of `advtext stats`.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path

from advtext.errors import AdvtextError


def load_classifier(run: str | Path, device: str = "auto"):
    """A text classifier: an advtext run folder, or ``hf:PATH`` for a local Hugging Face sequence classifier."""
    from advtext.text.classifier import TextClassifier

    return TextClassifier.load(run, device)


def attack_settings(*, method: str, dictionary: str, max_change: float | None, min_words: int,
                    protect_stopwords: bool, pos: bool, polarity_guard: bool, min_similarity: float | None,
                    measure_similarity: bool, top_positions: int = 6, words_per_position: int = 1, verify: int = 6,
                    seed: int = 0, query_only: bool = False, objective: str = "log-probs",
                    protect_punctuation: bool | None = None, sign_search: str | None = None, bf16: bool = False,
                    active_rows: int | None = None):
    """The settings of an attack, and their part of the configuration that a records file's header keeps: built
    the same way for this API and for ``advtext attack``. ``protect_punctuation`` None: on for greedy, off for
    papernot. ``sign_search`` (how papernot's search runs; None: the fastest for the device) leaves the records
    as they are, so the header does not keep it, nor ``active_rows`` (how many texts are stepped at once); ``bf16``
    (bfloat16 autocast) changes them, so it does."""
    from advtext.text.attack import AttackSettings
    from advtext.text.dictionary import protects_punctuation
    from advtext.text.similarity import check_min_similarity

    check_min_similarity(min_similarity, measure_similarity)
    if query_only and objective != "log-probs":
        raise AdvtextError("a query-only attack reads probabilities, not logits: drop the logit objective")
    settings = AttackSettings(method=method, max_change=max_change, min_words=min_words, min_similarity=min_similarity,
                              measure_similarity=measure_similarity, top_positions=top_positions,
                              words_per_position=words_per_position, verify=verify, seed=seed, query_only=query_only,
                              objective=objective, sign_search=sign_search, bf16=bf16, active_rows=active_rows)
    config = {"method": method, "dictionary": dictionary, "max_change": max_change, "min_words": min_words,
              "protect_stopwords": protect_stopwords,
              "protect_punctuation": protects_punctuation(method, protect_punctuation), "pos": pos,
              "polarity_guard": polarity_guard, "min_similarity": min_similarity,
              "measure_similarity": measure_similarity, "seed": seed,
              **({"top_positions": top_positions, "words_per_position": words_per_position, "verify": verify}
                 if method == "greedy" and not query_only else {}),
              **({"objective": objective} if objective != "log-probs" else {}),
              **({"bf16": True} if bf16 else {})}
    return settings, config


def attack_dictionary(clf, texts: Sequence[str], config: dict):
    """The dictionary that ``config`` (``attack_settings``) names, for ``clf`` once it has taken in the texts'
    words (and, for a word-piece model, their synonyms)."""
    from advtext.text.dictionary import build_dictionary

    clf.cover(texts, [config["dictionary"]])
    return build_dictionary(config["dictionary"], clf.vocab, config["protect_stopwords"], config["pos"],
                            config["polarity_guard"], config["protect_punctuation"])


def attack(clf, texts: Sequence[str], labels: Sequence[int] | None = None, *, method: str = "papernot",
           goal: str = "untargeted", dictionary: str = "vocab", max_change: float | None = None, min_words: int = 0,
           protect_stopwords: bool = False, protect_punctuation: bool | None = None, polarity_guard: bool = False,
           min_similarity: float | None = None, measure_similarity: bool = False, query_only: bool = False,
           objective: str = "log-probs", seed: int = 0, batch_size: int = 128, sign_search: str | None = None,
           bf16: bool = False, active_rows: int | None = None, out: str | Path | None = None) -> list[dict]:
    """Attack ``texts`` (labels: the model's own predictions when not given) and return one record per text, in
    the order given. ``protect_punctuation`` None: on for greedy, off for papernot. ``query_only`` runs greedy's
    query-only form (``--threat oracle``); ``sign_search``, ``bf16`` and ``active_rows`` as ``advtext attack``'s
    options;
    ``out`` keeps the records in a JSONL file (resumed when it exists), else they live in a temporary one."""
    from advtext.distributed import world
    from advtext.goals import parse_goal
    from advtext.text.attack import refuse_unused_sign_search
    from advtext.text.classifier import check_labels_fit
    from advtext.text.heldout import texts_fingerprint
    from advtext.text.run_attack import attack_texts

    texts = list(texts)
    if not texts:
        raise AdvtextError("no text to attack: give at least one")
    if out is None and world().distributed:
        raise AdvtextError("under torchrun give out=PATH: the ranks share their records through that file's folder")
    if labels is None:
        labels = clf.predict_proba(texts).argmax(-1).tolist()
    labels = [int(y) for y in labels]
    if len(labels) != len(texts):
        raise AdvtextError(f"{len(texts)} texts but {len(labels)} labels: give one label per text")
    check_labels_fit(clf.num_classes, labels, "the texts to attack")
    settings, prepared = attack_settings(
        method="greedy" if query_only else method, dictionary=dictionary, max_change=max_change, min_words=min_words,
        protect_stopwords=protect_stopwords, pos=False, polarity_guard=polarity_guard, min_similarity=min_similarity,
        measure_similarity=measure_similarity or min_similarity is not None, seed=seed, query_only=query_only,
        objective=objective, protect_punctuation=protect_punctuation, sign_search=sign_search, bf16=bf16,
        active_rows=active_rows)
    built = attack_dictionary(clf, texts, prepared)
    refuse_unused_sign_search(settings, built)
    config = {"run": clf.info.get("source"), "weights_sha256": clf.fingerprint, "input": "python",
              "texts_sha256": texts_fingerprint(texts, labels), "n": len(texts), "goal": goal, **prepared,
              **({"threat": "oracle"} if query_only else {})}
    keys = list(range(len(texts)))
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(out) if out is not None else Path(scratch) / "records.jsonl"
        records = attack_texts(clf, texts, labels, keys, parse_goal(goal, clf.num_classes), built, settings, path,
                               config, batch_size)
    return sorted(records, key=lambda r: r["id"])


def summarize(records: list[dict]) -> dict:
    """The statistics ``advtext stats`` prints, from records."""
    from advtext.metrics import attack_summary

    return attack_summary(records)
