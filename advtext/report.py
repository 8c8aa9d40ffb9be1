"""Terminal tables for reports (rich): classification reports, attack statistics."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

console = Console()


def print_classification_report(report: dict, title: str) -> None:
    """Accuracy, macro P/R/F1, per-class figures and the confusion matrix as terminal tables."""
    summary = Table(title=title, show_header=True)
    for col in ("n", "accuracy", "precision", "recall", "F1"):
        summary.add_column(col, justify="right")
    summary.add_row(str(report["n"]), *(f"{report[k]:.4f}" for k in ("accuracy", "precision", "recall", "f1")))
    console.print(summary)
    per_class = Table(title="per class and confusion matrix (rows: true, columns: predicted)")
    per_class.add_column("class", justify="right")
    for col in ("precision", "recall", "F1", "support"):
        per_class.add_column(col, justify="right")
    matrix = report["confusion_matrix"]
    for c in range(len(matrix)):
        per_class.add_column(f"pred {c}", justify="right")
    for row, counts in zip(report["per_class"], matrix):
        per_class.add_row(str(row["class"]), f"{row['precision']:.4f}", f"{row['recall']:.4f}", f"{row['f1']:.4f}",
                          str(row["support"]), *map(str, counts))
    console.print(per_class)
