"""How much a text classifier resists: clean accuracy, and for each attack asked, accuracy under
attack, attack success rate, words changed to flip (the text analogue of Papernot et al.'s
robustness metric, the mean minimal perturbation) and accuracy against the word budget; and the
accuracy on adversarial texts crafted against another model (transfer).

Every figure is computed from the attack records (``advtext.metrics.attack_summary``), which are
kept when a records folder is given, so that a rerun resumes and the figures can be checked.
"""

from __future__ import annotations

import re
from collections.abc import Container, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from advtext.errors import AdvtextError
from advtext.goals import Misclassification
from advtext.metrics import attack_summary
from advtext.text.attack import FAILED, METHODS, SUCCEEDED, AttackSettings
from advtext.text.classifier import TextClassifier, check_labels_fit
from advtext.text.dictionary import Dictionary, build_dictionary, parse_dictionary_spec, protects_punctuation
from advtext.text.query_attack import whole_vocabulary_refused
from advtext.text.run_attack import attack_layout, attack_texts
from advtext.text.tokenizer import Vocabulary

QUERY_ONLY = "oracle"  # the attack name of greedy's query-only form


@dataclass(frozen=True)
class AttackSpec:
    """One attack of the comparison: method, dictionary and the constraints shared by all."""

    method: str
    dictionary: str
    protect_stopwords: bool = True
    max_change: float | None = 0.2
    min_words: int = 0
    polarity_guard: bool = False
    min_similarity: float | None = None
    measure_similarity: bool = True
    protect_punctuation: bool = True

    @property
    def name(self) -> str:
        return f"{self.method}/{self.dictionary}"


def parse_attacks(methods: str, dictionaries: str, protect_stopwords: bool,
                  max_change: float | None, min_words: int = 0, polarity_guard: bool = False,
                  min_similarity: float | None = None, measure_similarity: bool = True,
                  protect_punctuation: bool | None = None) -> list[AttackSpec]:
    """Every method of the comma-separated ``methods`` with every dictionary of ``dictionaries``; ``oracle`` is
    greedy's query-only form (``--threat oracle``), which reads no gradient: a model that only masks its
    gradients resists the others, not it. ``protect_punctuation`` None: on for greedy and oracle, off for
    papernot."""
    specs = []
    for method in filter(None, (m.strip() for m in methods.split(","))):
        if method not in (*METHODS, QUERY_ONLY):
            raise AdvtextError(f"unknown attack method {method!r}: use {', '.join(METHODS)} or {QUERY_ONLY}, "
                               "comma-separated")
        for dictionary in filter(None, (d.strip() for d in dictionaries.split(","))):
            kind, _ = parse_dictionary_spec(dictionary)  # a bad spec is refused before any attack runs
            if method == QUERY_ONLY and kind == "vocab":
                raise whole_vocabulary_refused(dictionary)
            specs.append(AttackSpec(method, dictionary, protect_stopwords, max_change, min_words, polarity_guard,
                                    min_similarity, measure_similarity,
                                    protects_punctuation(method, protect_punctuation)))
    if not specs:
        raise AdvtextError("no attack asked: give --method greedy,papernot and --dictionary wordnet,...")
    return specs


def check_same_classes(runs: Sequence[tuple[str, TextClassifier]], labels: Sequence[int]) -> None:
    """Runs of different label sets cannot be compared (different vocabularies are fine)."""
    classes = {name: clf.num_classes for name, clf in runs}
    if len(set(classes.values())) > 1:
        found = ", ".join(f"{k}: {v} classes" for k, v in classes.items())
        raise AdvtextError(f"the runs have different label sets ({found}): compare runs trained on the same classes")
    check_labels_fit(next(iter(classes.values())), labels, "the texts measured")


def accuracy_by_budget(records: list[dict], max_budget: int) -> list[float]:
    """Accuracy under attack when the attacker may change at most k words, k = 0..max_budget: a text
    counts as broken at k when it was right before, is wrong after and needed at most k words, so the
    last point is the accuracy under attack."""
    predicted = [r for r in records if "pred_before" in r]
    if not predicted:
        return []
    correct = sum(r["pred_before"] == r["label"] for r in predicted)
    broken = [r["words_changed"] for r in predicted if r["pred_before"] == r["label"] != r["pred_after"]]
    return [(correct - sum(w <= k for w in broken)) / len(predicted) for k in range(max_budget + 1)]


def words_to_flip_failures_counted(records: list[dict]) -> float | None:
    """Mean over the attacked texts of the words this attack changed to flip them, a text it could not
    flip counted as one word more than it changed. The mean over successes alone looks only at the texts
    that still break (for a robust model, the easy ones); this figure counts the others too. It is what
    this attack needs, not a bound on the minimal perturbation (another attack may need fewer words)."""
    attacked = [r for r in records if r["status"] in (SUCCEEDED, FAILED)]
    if not attacked:
        return None
    return sum(r["words_changed"] + (r["status"] == FAILED) for r in attacked) / len(attacked)


def attack_figures(records: list[dict]) -> dict:
    """The figures of one run under one attack, from its records."""
    s = attack_summary(records)
    return {"accuracy_under_attack": s["accuracy_under_attack"], "success_rate": s["success_rate"],
            "mean_words_changed": s["words_changed"]["mean"], "median_words_changed": s["words_changed"]["median"],
            "words_to_flip_failures_counted": words_to_flip_failures_counted(records),
            "success_by_budget": s["success_by_budget"], "quality": s["quality"], "records": s["records"]}


def transfer_figures(clf: TextClassifier, records: list[dict]) -> dict:
    """``clf`` on the texts an attack crafted against another model: accuracy on all of them (the source's
    skipped and failed texts included, as they stand), and on the source's successes only (the texts that
    fooled the source: 1 - this is the transfer rate)."""
    def accuracy(rows: list[dict]) -> float | None:
        if not rows:
            return None
        pred = clf.predict_proba([r["adversarial"] for r in rows]).argmax(-1)
        return float((pred == torch.tensor([r["label"] for r in rows])).float().mean())

    return {"accuracy": accuracy(records),
            "accuracy_on_successes": accuracy([r for r in records if r["status"] == SUCCEEDED])}


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.+-]+", "_", text).strip("_")


def records_path(records_dir: Path, run: str, spec: AttackSpec) -> Path:
    """Where the records of one run under one attack are kept."""
    return records_dir / f"{_slug(str(run))}.{spec.method}.{_slug(spec.dictionary)}.jsonl"


class DictionaryCache:
    """Dictionaries built once per vocabulary and spec: the runs of one comparison often share a vocabulary,
    and greedy and papernot share a dictionary (WordNet's takes seconds to build)."""

    def __init__(self):
        self._built: dict[tuple, Dictionary] = {}

    def get(self, vocab: Vocabulary, spec: AttackSpec) -> Dictionary:
        key = (tuple(vocab.itos), spec.dictionary, spec.protect_stopwords, spec.polarity_guard,
               spec.protect_punctuation)
        if key not in self._built:
            self._built[key] = build_dictionary(spec.dictionary, vocab, spec.protect_stopwords,
                                                polarity_guard=spec.polarity_guard,
                                                protect_punctuation=spec.protect_punctuation)
        return self._built[key]


def run_attack(clf: TextClassifier, run: str, spec: AttackSpec, texts: Sequence[str], labels: Sequence[int],
               keys: Sequence[int], source: dict, seed: int, records_dir: Path, batch_size: int | None,
               dictionaries: DictionaryCache | None = None, corpus_words: Container[str] | None = None) -> list[dict]:
    """Attack the texts with one spec; records in ``records_path`` (resumed when already there). ``batch_size``
    None: ``attack_layout``'s default for this model and attack."""
    dictionary = (dictionaries or DictionaryCache()).get(clf.vocab, spec)
    query_only = spec.method == QUERY_ONLY
    batch_size, active_rows = attack_layout(clf, batch_size, None, not query_only)
    settings = AttackSettings(method="greedy" if query_only else spec.method, max_change=spec.max_change,
                              min_words=spec.min_words, min_similarity=spec.min_similarity,
                              measure_similarity=spec.measure_similarity, seed=seed, query_only=query_only,
                              active_rows=active_rows)
    config = {"run": str(Path(run).resolve()), "weights_sha256": clf.fingerprint, **source, "n": len(texts),
              "only_correct": False,
              "method": spec.method, "goal": "untargeted", "dictionary": spec.dictionary,
              "max_change": spec.max_change, "min_words": spec.min_words, "protect_stopwords": spec.protect_stopwords,
              "protect_punctuation": spec.protect_punctuation,
              "pos": False, "polarity_guard": spec.polarity_guard, "min_similarity": spec.min_similarity,
              "measure_similarity": spec.measure_similarity, "seed": seed}
    return attack_texts(clf, texts, labels, keys, Misclassification(), dictionary, settings,
                        records_path(records_dir, run, spec), config, batch_size, corpus_words)


def measure_robustness(runs: Sequence[tuple[str, TextClassifier]], specs: Sequence[AttackSpec],
                       texts: Sequence[str], labels: Sequence[int], keys: Sequence[int], source: dict, seed: int,
                       records_dir: Path, batch_size: int | None = None,
                       transfer_from: tuple[str, TextClassifier] | None = None,
                       corpus_words: Container[str] | None = None) -> dict:
    """Per run: clean accuracy, per attack its figures, and (with ``transfer_from``) the accuracy on the
    adversarial texts crafted by each attack against that other run."""
    check_same_classes([*runs, *([transfer_from] if transfer_from else [])], labels)
    records_dir.mkdir(parents=True, exist_ok=True)
    dictionaries = DictionaryCache()
    transferred = {}
    if transfer_from is not None:
        name, clf = transfer_from
        # a source that is also one of the runs shares that run's records (attacked once)
        shared = any(Path(run).resolve() == Path(name).resolve() for run, _ in runs)
        source_dir = records_dir if shared else records_dir / "transfer-source"
        source_dir.mkdir(exist_ok=True)
        transferred = {spec.name: run_attack(clf, name, spec, texts, labels, keys, source, seed, source_dir,
                                             batch_size, dictionaries, corpus_words) for spec in specs}
    results = []
    for name, clf in runs:
        pred = clf.predict_proba(texts).argmax(-1)
        entry = {"run": name, "clean_accuracy": float((pred == torch.tensor(list(labels))).float().mean()),
                 "attacks": {}}
        for spec in specs:
            records = run_attack(clf, name, spec, texts, labels, keys, source, seed, records_dir, batch_size,
                                 dictionaries, corpus_words)
            longest = max((r["words_changed"] for r in records), default=0)
            entry["attacks"][spec.name] = {**attack_figures(records), "accuracy_by_budget":
                                           accuracy_by_budget(records, longest),
                                           "records_file": str(records_path(records_dir, name, spec))}
        if transferred:
            entry["transfer"] = {spec: transfer_figures(clf, recs) for spec, recs in transferred.items()}
        results.append(entry)
    return {"n": len(texts), **source, "seed": seed, "attacks": [s.__dict__ | {"name": s.name} for s in specs],
            "transfer_from": transfer_from[0] if transfer_from else None, "runs": results}
