"""``advtext report``: attack results as one self-contained HTML page, for looking at and for sending on.

One section per result, side by side in reading order: text attack files (advtext's JSONL, or TextAttack's
CSV log), the record files of a ``robustness --out`` folder, and image attack folders. Each section has
its summary figures and plots, and its examples: text with removed words struck and new words marked,
filterable by status and sortable by words changed (``#status=failed`` in the address presets the
filter); images as the attack's example grid. Everything is inline (CSS, script, PNGs as data
addresses), and the page's content security policy forbids any network request.
"""

from __future__ import annotations

import base64
import html
import json
import tempfile
from pathlib import Path

from advtext.errors import AdvtextError

POLICY = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'"

STYLE = """
body{font-family:system-ui,sans-serif;margin:1.5em;color:#222}section{border-top:2px solid #ccc;margin-top:2em}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ddd;padding:.25em .5em;vertical-align:top}
del{color:#b00;text-decoration:line-through}ins{color:#070;text-decoration:none;font-weight:bold;margin-left:.25em}
.figures td:first-child{color:#555}img{max-width:48%;margin:.25em}tr[hidden]{display:none}
"""

SCRIPT = """
function apply(section){
  const want = section.querySelector('select').value;
  for (const row of section.querySelectorAll('tbody.examples tr'))
    row.hidden = !(want === 'all' || row.dataset.status === want);
}
function sortRows(section){
  const body = section.querySelector('tbody.examples');
  const rows = [...body.rows].sort((a, b) => Number(b.dataset.words) - Number(a.dataset.words));
  rows.forEach(r => body.appendChild(r));
}
document.addEventListener('DOMContentLoaded', () => {
  const preset = new URLSearchParams(location.hash.slice(1)).get('status');
  for (const section of document.querySelectorAll('section.text')) {
    const select = section.querySelector('select');
    if (preset) select.value = preset;
    select.addEventListener('change', () => apply(section));
    section.querySelector('button').addEventListener('click', () => sortRows(section));
    apply(section);
  }
  document.body.dataset.ready = 'yes';
});
"""

FIGURES = [("records (succeeded / failed / skipped)", lambda s: f"{s['records']} ({s['succeeded']} / {s['failed']} / "
                                                                f"{s['skipped']})"),
           ("success rate", lambda s: _pct(s["success_rate"])),
           ("accuracy before / under attack", lambda s: f"{_pct(s['accuracy_before'])} / "
                                                        f"{_pct(s['accuracy_under_attack'])}"),
           ("words changed: mean / median", lambda s: f"{_num(s['words_changed']['mean'])} / "
                                                      f"{_num(s['words_changed']['median'])}"),
           ("queries per attacked text: mean / median", lambda s: f"{_num(s['queries']['mean'])} / "
                                                                  f"{_num(s['queries']['median'])}"),
           ("mean sentence similarity of successes", lambda s: _num(s["quality"]["mean_similarity"], 3)),
           ("successes with a polarity-breaking change", lambda s: _pct(s["quality"]["texts_with_polarity_break"])),
           ("seconds per text", lambda s: _num(s["seconds_per_sentence"], 4))]


def _pct(value) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def _num(value, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _png(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode()
    return f'<img alt="{html.escape(path.stem)}" src="data:image/png;base64,{data}">'


def _marked(record: dict) -> str:
    """The original text with each removed word struck and its replacement marked."""
    from advtext.report import changes_shown

    return changes_shown(record, html.escape, lambda old, new: f"<del>{old}</del><ins>{new}</ins>")


def _text_section(title: str, records: list[dict], config: dict) -> str:
    from advtext.metrics import attack_summary
    from advtext.report import write_attack_plots

    summary = attack_summary(records)
    with tempfile.TemporaryDirectory() as scratch:
        plots = "".join(_png(p) for p in write_attack_plots(summary, Path(scratch)))
    said = ", ".join(f"{k} {config[k]}" for k in ("method", "goal", "dictionary", "threat") if config.get(k))
    figures = "".join(f"<tr><td>{name}</td><td>{html.escape(show(summary))}</td></tr>" for name, show in FIGURES)
    rows = "".join(f'<tr data-status="{r["status"]}" data-words="{r["words_changed"]}"><td>{r["status"]}</td>'
                   f'<td>{r["words_changed"]}</td><td>{r["label"]} &rarr; {r.get("pred_after", "-")}</td>'
                   f"<td>{_marked(r)}</td></tr>" for r in records)
    return (f'<section class="text"><h2>{html.escape(title)}</h2><p>{html.escape(said)}</p>'
            f'<table class="figures">{figures}</table>{plots}<p>show <select><option value="all">all</option>'
            '<option value="succeeded">succeeded</option><option value="failed">failed</option>'
            '<option value="skipped">skipped</option></select> <button>sort by words changed</button></p>'
            "<table><thead><tr><th>status</th><th>words changed</th><th>label &rarr; prediction</th><th>text"
            f'</th></tr></thead><tbody class="examples">{rows}</tbody></table></section>')


def _image_section(folder: Path) -> str:
    summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    head = ["eps", "n", "success_rate", "accuracy", "mean_l0", "mean_l2", "mean_linf", "seconds"]
    rows = "".join("<tr>" + "".join(f"<td>{'-' if r.get(k) is None else r[k]}</td>" for k in head) + "</tr>"
                   for r in summary["results"])
    images = "".join(_png(p) for p in sorted(folder.glob("*.png")))
    return (f'<section class="image"><h2>{html.escape(str(folder))}</h2><p>{html.escape(str(summary.get("run")))}, '
            f'goal {html.escape(str(summary.get("goal")))}</p><table><tr>{"".join(f"<th>{h}</th>" for h in head)}</tr>'
            f"{rows}</table><p>originals, adversarials and their difference:</p>{images}</section>")


def sections_of(path: Path) -> list[str]:
    """The report sections of one result: an attack file, a TextAttack CSV, a robustness or image folder."""
    from advtext.text.run_attack import read_attack_file
    from advtext.text.textattack_csv import is_textattack_csv, read_textattack_csv

    if not path.exists():
        raise AdvtextError(f"{path} not found: give attack files (.jsonl), TextAttack CSV logs or result folders")
    if path.is_dir():
        if (path / "summary.json").exists() and (path / "records.jsonl").exists():
            return [_image_section(path)]
        files = sorted(path.glob("*.jsonl"))
        if not files:
            raise AdvtextError(f"{path} holds no attack records: give an `image attack` folder or a "
                               "`robustness --out` folder")
        return [s for f in files for s in sections_of(f)]
    if path.suffix.lower() == ".csv":
        if not is_textattack_csv(path):
            raise AdvtextError(f"{path} is a CSV without TextAttack's columns: give TextAttack's --log-to-csv file")
        return [_text_section(str(path), read_textattack_csv(path), {"method": "TextAttack"})]
    if path.suffix.lower() != ".jsonl":
        raise AdvtextError(f"{path} is not a result advtext reads: give attack files (.jsonl), TextAttack CSV logs "
                           "or result folders")
    config, records = read_attack_file(path)
    if not records:
        raise AdvtextError(f"{path} holds no attack records yet: run `advtext attack` first")
    return [_text_section(str(path), records, config or {})]


def write_report(paths: list[Path], out: Path) -> int:
    """The page for ``paths`` at ``out``; its size in bytes."""
    body = "".join(s for p in paths for s in sections_of(p))
    page = (f'<!doctype html><html><head><meta charset="utf-8"><meta http-equiv="Content-Security-Policy" '
            f'content="{POLICY}"><title>advtext report</title><style>{STYLE}</style><script>{SCRIPT}</script>'
            f"</head><body><h1>advtext report</h1>{body}</body></html>")
    out.write_text(page, encoding="utf-8")
    return len(page.encode())
