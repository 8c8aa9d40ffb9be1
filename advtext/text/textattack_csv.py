"""TextAttack's CSV log, both ways: advtext's records written with TextAttack's columns, so that scripts written
for TextAttack's logs read advtext's, and TextAttack's CSV read as advtext records, so that ``advtext stats``
summarises a TextAttack run.

Columns (TextAttack's ``CSVLogger`` with ``color_method="file"``): original_text, perturbed_text (the changed
words marked ``[[word]]`` in both), original_score, perturbed_score (the untargeted goal's score, 1 minus the
probability of the true class), original_output, perturbed_output (the predicted classes),
ground_truth_output, num_queries, result_type (Successful / Failed / Skipped).
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

from advtext.errors import AdvtextError
from advtext.report import changes_shown
from advtext.text.attack import FAILED, SKIPPED, SUCCEEDED
from advtext.text.run_attack import rewrite
from advtext.text.tokenizer import words

COLUMNS = ("original_text", "perturbed_text", "original_score", "perturbed_score", "original_output",
           "perturbed_output", "ground_truth_output", "num_queries", "result_type")
RESULT_TYPES = {SUCCEEDED: "Successful", FAILED: "Failed", SKIPPED: "Skipped"}
MARKED = re.compile(r"\[\[(.*?)\]\]")


def _marked(word: str) -> str:
    return f"[[{word}]]"


def write_textattack_csv(records: list[dict], path: Path) -> None:
    """``records`` as TextAttack's CSV log at ``path``."""
    with open(path, "w", encoding="utf-8", newline="") as f:
        out = csv.writer(f)
        out.writerow(COLUMNS)
        for r in records:
            original = changes_shown(r, str, lambda old, new: _marked(old))
            label = r["label"]
            scores = (r["textattack_scores"] if "probs_before" not in r else  # a TextAttack log read back
                      [1 - r["probs_before"][label], 1 - r["probs_after"][label]])
            out.writerow([original, rewrite(r["original"], r["changes"], _marked), *scores, r["pred_before"],
                          r["pred_after"], label, r.get("queries", r["forwards"]), RESULT_TYPES[r["status"]]])


def read_textattack_csv(path: Path) -> list[dict]:
    """TextAttack's CSV log as advtext records (no probabilities or seconds: TextAttack's log has none; its
    scores are kept for writing the log again)."""
    with open(path, encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        raise AdvtextError(f"{path} holds no rows: give the CSV that TextAttack's --log-to-csv wrote")
    missing = [c for c in COLUMNS if c not in rows[0]]
    if missing:
        raise AdvtextError(f"{path} lacks TextAttack's column(s) {', '.join(missing)}: give the CSV that "
                           "TextAttack's --log-to-csv wrote")
    status_of = {v: k for k, v in RESULT_TYPES.items()}
    records = []
    for n, row in enumerate(rows, 2):
        try:
            status = status_of[row["result_type"]]
            label, before, after = (int(float(row[k])) for k in ("ground_truth_output", "original_output",
                                                                  "perturbed_output"))
            queries = int(float(row["num_queries"]))
            scores = [float(row["original_score"]), float(row["perturbed_score"])]
            original, spans = _unmarked(row["original_text"])
            perturbed, new_spans = _unmarked(row["perturbed_text"])
        except (KeyError, ValueError, TypeError):  # TypeError: a short row's missing fields are None
            raise AdvtextError(f"{path} line {n}: a field is missing or cannot be read (result_type, the scores, "
                               "the outputs, num_queries): fix or re-export it") from None
        changes = [{"position": len(words(original[:start])), "old": old, "new": new, "start": start, "end": end}
                   for (start, end, old), (_, _, new) in zip(spans, new_spans)]
        records.append({"id": n - 2, "label": label, "original": original, "adversarial": perturbed,
                        "length": len(words(original)), "status": status, "reason": "", "changes": changes,
                        "words_changed": len(changes), "pred_before": before, "pred_after": after,
                        "queries": queries, "forwards": queries, "backwards": 0, "seconds": None,
                        "textattack_scores": scores})
    return records


def _unmarked(text: str) -> tuple[str, list[tuple[int, int, str]]]:
    """``text`` without its ``[[word]]`` marks, and the span and word of each mark in the plain text."""
    plain, spans, cursor = [], [], 0
    length = 0
    for m in MARKED.finditer(text):
        plain.append(text[cursor : m.start()])
        length += m.start() - cursor
        spans.append((length, length + len(m.group(1)), m.group(1)))
        plain.append(m.group(1))
        length += len(m.group(1))
        cursor = m.end()
    plain.append(text[cursor:])
    return "".join(plain), spans


def is_textattack_csv(path: Path) -> bool:
    """Whether ``path`` is a CSV whose header names TextAttack's columns."""
    if path.suffix.lower() != ".csv":
        return False
    with open(path, encoding="utf-8", errors="replace", newline="") as f:
        header = next(csv.reader(f), [])
    return "perturbed_text" in header and "result_type" in header
