"""Terminal tables for reports (rich): classification reports, attack statistics."""

from __future__ import annotations

from collections.abc import Callable

from rich import box
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
    per_class = Table(title="per class")
    for col in ("class", "precision", "recall", "F1", "support"):
        per_class.add_column(col, justify="right", no_wrap=True)
    for row in report["per_class"]:
        per_class.add_row(str(row["class"]), f"{row['precision']:.4f}", f"{row['recall']:.4f}", f"{row['f1']:.4f}",
                          str(row["support"]))
    console.print(per_class)
    # the confusion matrix as its own compact table: one narrow column per predicted class, never cut
    matrix = report["confusion_matrix"]
    confusion = Table(title="confusion matrix (rows: true, columns: predicted)", box=box.SIMPLE, padding=(0, 1))
    confusion.add_column("", justify="right", no_wrap=True)
    for c in range(len(matrix)):
        confusion.add_column(str(c), justify="right", no_wrap=True)
    for c, counts in enumerate(matrix):
        confusion.add_row(str(c), *map(str, counts))
    console.print(confusion)


def _fmt(value, digits: int = 3) -> str:
    if value is None:
        return "-"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def print_attack_summary(s: dict, title: str = "attack statistics") -> None:
    """The attack summary as one terminal table."""
    table = Table(title=title, show_header=False)
    table.add_column("figure")
    table.add_column("value", justify="right")
    wc, pc = s["words_changed"], s["percent_words_changed"]
    rows = [
        ("records (succeeded / failed / skipped)",
         f"{s['records']} ({s['succeeded']} / {s['failed']} / {s['skipped']})"),
        ("success rate", _pct(s["success_rate"])),
        ("accuracy before attack", _pct(s["accuracy_before"])),
        ("accuracy under attack", _pct(s["accuracy_under_attack"])),
        ("words changed: mean / median / std",
         f"{_fmt(wc['mean'], 2)} / {_fmt(wc['median'], 1)} / {_fmt(wc['std'], 2)}"),
        ("words changed: min / max", f"{_fmt(wc['min'])} / {_fmt(wc['max'])}"),
        ("% of words changed (mean)", _fmt(pc["mean"], 2)),
        ("mean sentence length (tokens)", _fmt(s["mean_length"], 2)),
        ("forward / backward passes per sentence", f"{_fmt(s['forwards_per_sentence'], 2)} / "
                                                    f"{_fmt(s['backwards_per_sentence'], 2)}"),
        ("queries to the target per attacked text: mean / median",
         f"{_fmt(s['queries']['mean'], 1)} / {_fmt(s['queries']['median'], 1)}"),
        ("seconds per sentence", _fmt(s["seconds_per_sentence"], 4)),
        *quality_rows(s["quality"]),
    ]
    for name, value in rows:
        table.add_row(name, value)
    console.print(table)
    hist = s["words_changed_histogram"]
    if hist:
        peak = max(hist.values())
        console.print("words changed per successful sentence:")
        for k, v in hist.items():
            console.print(f"  {int(k):>3} | {'#' * max(1, round(40 * v / peak))} {v}")


def quality_rows(q: dict) -> list[tuple[str, str]]:
    """The quality figures of an attack's successes (see ``advtext.text.quality``) as table rows."""
    return [("mean sentence similarity of successes (MiniLM)", _fmt(q["mean_similarity"], 3)),
            ("successes with a polarity-breaking change", _pct(q["texts_with_polarity_break"])),
            ("changes touching punctuation / to a number / to a word outside the corpus", change_shares(q)),
            ("most used substitutes (share of changes)", top_substitutes(q))]


def change_shares(q: dict) -> str:
    """The shares of changes that touch punctuation, bring in a number, bring in a word the corpus lacks."""
    return " / ".join(_pct(q.get(k)) for k in ("changes_touching_punctuation", "changes_to_numbers",
                                               "changes_outside_corpus"))


def top_substitutes(q: dict) -> str:
    return ", ".join(f"{t['word']} {100 * t['share']:.1f}%" for t in q["top_substitutes"]) or "-"


def _pct(value) -> str:
    return "-" if value is None else f"{100 * value:.2f}%"


def changes_shown(record: dict, escape: Callable[[str], str], show: Callable[[str, str], str]) -> str:
    """The original text, escaped, with each changed word written by ``show(old, new)`` (both escaped)."""
    text, pieces, cursor = record["original"], [], 0
    for c in sorted(record["changes"], key=lambda c: c["start"]):
        pieces += [escape(text[cursor : c["start"]]), show(escape(text[c["start"] : c["end"]]), escape(c["new"]))]
        cursor = c["end"]
    pieces.append(escape(text[cursor:]))
    return "".join(pieces)


def highlighted(record: dict) -> str:
    """The adversarial text as rich markup: each changed word shown as [old -> new] in colour."""
    from rich.markup import escape

    return changes_shown(record, escape,
                         lambda old, new: f"[bold]\\[[/][red strike]{old}[/] -> [bold green]{new}[/][bold]][/]")


def print_examples(records: list[dict], n: int = 3) -> None:
    """A few successful adversarial examples with the changed words highlighted."""
    shown = [r for r in records if r["status"] == "succeeded"][:n]
    for r in shown:
        moved = (f"p={r['probs_before'][r['label']]:.3f} -> {r['probs_after'][r['label']]:.3f}"
                 if "probs_before" in r else f"prediction {r['pred_before']} -> {r['pred_after']}")
        console.print(f"[bold]#{r['id']}[/] label {r['label']}: {moved}, {r['words_changed']} word(s) changed")
        console.print("  " + highlighted(r), soft_wrap=True)


def write_attack_plots(s: dict, out_dir) -> list:
    """Histogram of words changed and success rate against the word budget, as PNG files."""
    from pathlib import Path

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    hist = {int(k): v for k, v in s["words_changed_histogram"].items()}
    paths = []
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.bar(list(hist), list(hist.values()), color="#4c72b0")
    ax.set(xlabel="words changed", ylabel="successful sentences",
           title=f"words changed per sentence (mean {_fmt(s['words_changed']['mean'], 2)})")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    fig.tight_layout()
    paths.append(out_dir / "words_changed.png")
    fig.savefig(paths[-1], dpi=120)
    plt.close(fig)
    curve = {int(k): v for k, v in s["success_by_budget"].items()}
    fig, ax = plt.subplots(figsize=(6, 4))
    xs = [0] + list(curve)
    ax.step(xs, [0.0] + [100 * v for v in curve.values()], where="post", color="#c44e52")
    ax.set(xlabel="word budget (words changed at most)", ylabel="success rate (%)", ylim=(0, 101),
           title="success rate against the word budget")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
    fig.tight_layout()
    paths.append(out_dir / "success_by_budget.png")
    fig.savefig(paths[-1], dpi=120)
    plt.close(fig)
    return paths


def print_robustness(result: dict) -> None:
    """Runs side by side (one column each): clean accuracy, then per attack the accuracy under attack,
    the words changed to flip (mean / median) and the accuracy on texts transferred from another run."""
    table = Table(title=f"robustness on {result['n']} {result.get('corpus', '')} {result.get('split', '')} texts")
    table.add_column("figure")
    for run in result["runs"]:
        table.add_column(run["run"], justify="right")
    runs = result["runs"]
    table.add_row("clean accuracy", *(_pct(r["clean_accuracy"]) for r in runs))
    for attack in result["attacks"]:
        name = attack["name"]
        figures = [r["attacks"][name] for r in runs]
        table.add_row(f"{name}: accuracy under attack", *(_pct(a["accuracy_under_attack"]) for a in figures))
        table.add_row("  attack success rate", *(_pct(a["success_rate"]) for a in figures))
        table.add_row("  words to flip: mean / median", *(f"{_fmt(a['mean_words_changed'], 2)} / "
                                                           f"{_fmt(a['median_words_changed'], 1)}" for a in figures))
        table.add_row("  words to flip, failures counted", *(_fmt(a["words_to_flip_failures_counted"], 2)
                                                              for a in figures))
        table.add_row("  mean similarity of successes", *(_fmt(a["quality"]["mean_similarity"], 3) for a in figures))
        table.add_row("  successes with a polarity-breaking change",
                      *(_pct(a["quality"]["texts_with_polarity_break"]) for a in figures))
        table.add_row("  changes: punctuation / number / outside the corpus",
                      *(change_shares(a["quality"]) for a in figures))
        table.add_row("  most used substitutes", *(top_substitutes(a["quality"]) for a in figures))
        if result["transfer_from"]:
            table.add_row(f"  accuracy on texts crafted against {result['transfer_from']}: all / its successes",
                          *(f"{_pct(r['transfer'][name]['accuracy'])} / "
                            f"{_pct(r['transfer'][name]['accuracy_on_successes'])}" for r in runs))
    console.print(table)


def write_robustness_plots(result: dict, out_dir) -> list:
    """Per attack, accuracy under attack against the word budget, one curve per run (PNG)."""
    from pathlib import Path

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for attack in result["attacks"]:
        name = attack["name"]
        curves = {run["run"]: run["attacks"][name]["accuracy_by_budget"] for run in result["runs"]}
        width = max((len(c) for c in curves.values()), default=1)
        fig, ax = plt.subplots(figsize=(6.5, 4))
        for run, curve in curves.items():
            if curve:  # flat after the largest flip this run needed
                curve = curve + [curve[-1]] * (width - len(curve))
                ax.step(range(width), [100 * v for v in curve], where="post", label=run)
        ax.set(xlabel="word budget (words changed at most)", ylabel="accuracy under attack (%)", ylim=(0, 101),
               title=f"accuracy under the {name} attack")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        fig.tight_layout()
        paths.append(out_dir / f"robustness-{name.replace('/', '-').replace(':', '')}.png")
        fig.savefig(paths[-1], dpi=120)
        plt.close(fig)
    return paths
