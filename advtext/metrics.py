"""Summary statistics of attack records: success, accuracy under attack, words changed, cost."""

from __future__ import annotations

import statistics
from collections import Counter

from advtext.text.attack import FAILED, SKIPPED, SUCCEEDED
from advtext.text.quality import quality_summary


def _describe(values: list[float]) -> dict:
    if not values:
        return {"mean": None, "median": None, "std": None, "min": None, "max": None}
    return {"mean": statistics.fmean(values), "median": statistics.median(values),
            "std": statistics.pstdev(values), "min": min(values), "max": max(values)}


def _seconds(records: list[dict]) -> list[float]:
    return [r["seconds"] for r in records if r.get("seconds") is not None]


def attack_summary(records: list[dict]) -> dict:
    """The figures users compare (TextAttack's names where they exist), from attack records.

    success rate = succeeded / (succeeded + failed); accuracy before / under attack are over all
    records with a prediction; words changed and % changed are over successes.
    """
    counts = Counter(r["status"] for r in records)
    attacked = [r for r in records if r["status"] in (SUCCEEDED, FAILED)]
    succ = [r for r in records if r["status"] == SUCCEEDED]
    predicted = [r for r in records if "pred_before" in r]
    changed = [r["words_changed"] for r in succ]
    lengths = [r["length"] for r in attacked]
    budget = sorted(set(changed))
    return {
        "records": len(records),
        "succeeded": counts[SUCCEEDED], "failed": counts[FAILED], "skipped": counts[SKIPPED],
        "success_rate": len(succ) / len(attacked) if attacked else None,
        "accuracy_before": (sum(r["pred_before"] == r["label"] for r in predicted) / len(predicted)
                            if predicted else None),
        "accuracy_under_attack": (sum(r["pred_after"] == r["label"] for r in predicted) / len(predicted)
                                  if predicted else None),
        "words_changed": _describe(changed),
        "words_changed_histogram": dict(sorted(Counter(changed).items())),
        "percent_words_changed": _describe([100 * r["words_changed"] / max(r["length"], 1) for r in succ]),
        "mean_length": statistics.fmean(lengths) if lengths else None,
        "success_by_budget": {k: sum(c <= k for c in changed) / len(attacked) for k in budget} if attacked else {},
        "forwards_per_sentence": statistics.fmean(r["forwards"] for r in attacked) if attacked else None,
        "backwards_per_sentence": statistics.fmean(r["backwards"] for r in attacked) if attacked else None,
        # texts the target classified for each attacked text (files written before queries were counted: none)
        "queries": _describe([r["queries"] for r in attacked] if all("queries" in r for r in attacked) else []),
        # a TextAttack log has no timings: None
        "seconds_per_sentence": statistics.fmean(timed) if (timed := _seconds(records)) else None,
        "seconds_total": sum(timed) if timed else None,
        "quality": quality_summary(succ),
    }
