"""Attack a list of texts and stream one JSONL record per text: resumable, progress shown.

The first line of the output holds the attack's configuration; a rerun with the same
configuration skips the texts already recorded, and one with another configuration is refused.
What determines the records is compared (the model's weights, the texts drawn from, the attack's
settings and seed), not where files lie nor how many texts were asked for: a moved run folder
resumes, and a larger ``--n`` continues. One writer at a time: the output file is locked.
Every success is re-checked from scratch: the adversarial *text* is tokenised and classified again.
"""

from __future__ import annotations

import fcntl
import json
import sys
import time
from collections.abc import Callable, Container, Sequence
from dataclasses import replace
from functools import partial
from pathlib import Path

import torch

from advtext import strict_json
from advtext.distributed import barrier, world
from advtext.engine import cyclic_gc_paused
from advtext.errors import AdvtextError
from advtext.goals import Goal, Misclassification
from advtext.progress import progress_bar
from advtext.text.attack import FAILED, SKIPPED, SUCCEEDED, AttackSettings, SequenceAttack
from advtext.text.classifier import TextClassifier, check_labels_fit
from advtext.text.dictionary import Dictionary
from advtext.text.quality import change_figures
from advtext.text.query_attack import QueryAttack
from advtext.text.similarity import SentenceEncoder, sentence_encoder
from advtext.text.tokenizer import Tokens, Vocabulary, capped_length, tokenize, words

HEADER = "advtext_attack"
NOT_COMPARED = ("run", "n", "corpus", "input")  # where things lie and how many were asked: no effect on a record


REQUIRED = ("id", "status", "label", "length", "words_changed", "changes", "original", "seconds")


def read_attack_file(path: Path) -> tuple[dict | None, list[dict]]:
    """The header's configuration (None for a new file) and the records of an attack output file.

    A last line without its newline was cut short by an interruption and is ignored (and cut off
    before the next records are appended), even when it happens to parse.
    """
    if not path.exists() or path.stat().st_size == 0:
        return None, []
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise AdvtextError(f"{path} is not an advtext attack file (not UTF-8): choose another --out") from None
    lines = text.split("\n")[:-1]  # whatever follows the last newline is partial
    config, records = None, []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError:
            raise AdvtextError(f"{path} line {n} is not JSON: it is not an advtext attack file") from None
        if not isinstance(obj, dict):
            raise AdvtextError(f"{path} line {n} is not a JSON object: it is not an advtext attack file")
        if HEADER in obj:
            config = obj[HEADER]
            if not isinstance(config, dict):
                raise AdvtextError(f"{path} line {n}: the attack header holds no configuration: it was not written "
                                   "by `advtext attack`; choose another --out")
        elif any(k not in obj for k in REQUIRED):
            missing = [k for k in REQUIRED if k not in obj]
            raise AdvtextError(f"{path} line {n} lacks {', '.join(missing)}: it is not an advtext attack record")
        else:
            problem = _record_problem(obj)
            if problem:
                raise AdvtextError(f"{path} line {n}: {problem}; fix or delete that line")
            records.append(obj)
    if config is None and (records or lines):
        raise AdvtextError(f"{path} has no advtext attack header: it was not written by `advtext attack`")
    seen = set()
    for r in records:
        if r["id"] in seen:
            raise AdvtextError(f"{path} holds two records of text {r['id']!r} (two attacks wrote it at once?): "
                               "rerun the attack into a new --out")
        seen.add(r["id"])
    return config, records


def _record_problem(record: dict) -> str:
    """What makes a record unusable for the statistics ('' when nothing does)."""
    if record["status"] not in (SUCCEEDED, FAILED, SKIPPED):
        return f"unknown status {record['status']!r} (succeeded, failed or skipped)"
    for key in ("length", "words_changed"):
        value = record[key]
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            return f"{key} {value!r} is not a count"
    if not isinstance(record["seconds"], (int, float)) or isinstance(record["seconds"], bool):
        return f"seconds {record['seconds']!r} is not a number"
    return ""


def _drop_partial_last_line(path: Path) -> None:
    """Cut a record that an interruption left half-written, so that appending starts on a fresh line."""
    if not path.exists():
        return
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        path.write_bytes(data[: data.rfind(b"\n") + 1])


def _wordish(char: str) -> bool:
    """A character that can join a word token (letters, digits, an apostrophe, an underscore); not "" (no character)."""
    return char.isalnum() or (char != "" and char in "'_")


def _joins(left: str, right: str) -> bool:
    """Whether two touching characters would fall into one token (so a space must part them)."""
    return _wordish(left) and _wordish(right)


def adversarial_text(text: str, tokens: Tokens, new_ids: list[int], changed: list[int],
                     vocab: Vocabulary) -> tuple[str, list[dict]]:
    """Rewrite exactly the changed words of ``text``, left to right; the list of changes with spans."""
    changes = [{"position": p, "old": tokens.words[p], "new": vocab.itos[new_ids[p]], "start": tokens.starts[p],
                "end": tokens.ends[p]} for p in sorted(changed)]
    return rewrite(text, changes), changes


def rewrite(text: str, changes: list[dict], show: Callable[[str], str] = str) -> str:
    """``text`` with each change's span replaced by its new word (as ``show`` writes it: TextAttack's log marks
    it ``[[word]]``). A space is added only where the new word would otherwise merge with what now stands
    beside it."""
    out, cursor, tail = [], 0, ""  # tail: the last character written, as the plain text has it
    for c in sorted(changes, key=lambda c: c["start"]):
        word, gap = c["new"], text[cursor : c["start"]]
        before = gap[-1:] or tail
        pre = " " if _joins(before, word[:1]) else ""
        post = " " if _joins(word[-1:], text[c["end"] : c["end"] + 1]) else ""
        out += [gap, pre + show(word) + post]
        tail, cursor = post or word[-1:], c["end"]
    out.append(text[cursor:])
    return "".join(out)


def attack_texts(clf: TextClassifier, texts: Sequence[str], labels: Sequence[int], keys: Sequence[int],
                 goal: Goal, dictionary: Dictionary, settings: AttackSettings, out: Path, config: dict,
                 batch_size: int = 128, corpus_words: Container[str] | None = None) -> list[dict]:
    """Attack every text not yet in ``out``, record it, and return the records of ``keys`` in their order;
    ``corpus_words``: the words of the corpus, for the records' count of substitutes outside it.

    Under torchrun rank r attacks the batches r, r + N, ... of the plan (``batch_plan``) into its own part file
    (``OUT.parts/``), skipping texts that ``out`` or any part already holds, and rank 0 merges the parts into
    ``out``. One process takes in the parts a stopped torchrun left, and attacks into ``out`` itself. Either
    way ``out`` ends in input order, so that the layout changes nothing in it but the seconds."""
    clf.cover(texts)  # a word-piece model takes in the words first (the dictionary was built for them too)
    check_labels_fit(clf.num_classes, labels, "the texts to attack")
    w = world()
    plan = batch_plan(texts, clf.max_len, batch_size)
    attack_file = partial(_attack_file, clf=clf, texts=texts, labels=labels, keys=keys, goal=goal,
                          dictionary=dictionary, settings=settings, config=config, corpus_words=corpus_words)
    if not w.distributed:
        merge_parts(out, config, keys)  # a stopped torchrun's parts, if any
        attack_file(out, plan)
        merge_parts(out, config, keys)
    else:
        if len(plan) < w.size and w.main:
            print(f"note: {len(plan)} batch(es) for {w.size} ranks, so {w.size - len(plan)} rank(s) have nothing to "
                  "attack: give a smaller --batch-size to spread the texts", file=sys.stderr)
        done = {r["id"] for path in [out, *part_files(out)] for r in _records_of(path, config)}
        mine = [[i for i in plan[b] if keys[i] not in done] for b in w.shard(len(plan))]
        attack_file(part_path(out, w.rank), [batch for batch in mine if batch])
        barrier("rank 0 merged the part files")
        if w.main:
            merge_parts(out, config, keys)
        barrier("rank 0 merged the part files")
    by_id = {r["id"]: r for r in read_attack_file(out)[1]}
    return [by_id[k] for k in keys]


LARGE_PASS, PLANNED_PER_PASS = 1024, 4  # on a GPU: texts a pass may hold; texts planned per texts stepped


def _large_passes(clf: TextClassifier) -> bool:
    """Whether a pass may hold 1,024 texts: an LSTM or CNN on a GPU. A GPU keeps more rows busy than a CPU's cores,
    but a transformer's backward pass over 1,024 long texts keeps tens of GB for its gradient (MiniLM, 500 pieces
    each)."""
    return clf.device.type == "cuda" and not hasattr(clf.model, "forward_words")


def attack_batch(clf: TextClassifier) -> int:
    """The default number of texts attacked together, every one stepped at each pass."""
    return LARGE_PASS if _large_passes(clf) else 128


def attack_layout(clf: TextClassifier, batch_size: int | None, active_rows: int | None,
                  refills: bool) -> tuple[int, int | None]:
    """An attack's batch and active rows (``advtext attack``, ``robustness``) where not given. Where passes are
    large and the attack ``refills`` cheaply (a gradient attack, not under bf16, where a pass that takes in new
    texts runs them apart), it plans 4,096 texts together and steps 1,024 at once: fewer passes, each as large
    as ``attack_batch``'s, as finished texts make room for the next. Else ``attack_batch``, every text stepped."""
    if batch_size is None and refills and _large_passes(clf):
        return PLANNED_PER_PASS * LARGE_PASS, active_rows or LARGE_PASS
    return batch_size or attack_batch(clf), active_rows


def batch_plan(texts: Sequence[str], max_len: int | None, batch_size: int) -> list[list[int]]:
    """The batches (indices of ``texts``) an attack runs: similar lengths together, so that little of a batch is
    padding. The plan depends on the texts alone: under torchrun rank r runs batches r, r + N, ..., each made
    of the rows one process would give it, so that no figure changes in its last bits."""
    limit = max_len or 10**9
    order = sorted(range(len(texts)), key=lambda i: capped_length(texts[i], limit))
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


def _attack_file(path: Path, batches: list[list[int]], *, clf: TextClassifier, texts: Sequence[str],
                 labels: Sequence[int], keys: Sequence[int], goal: Goal, dictionary: Dictionary,
                 settings: AttackSettings, config: dict, corpus_words: Container[str] | None) -> None:
    """Attack the texts of ``batches`` that ``path`` does not hold yet, appending their records to it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as f:
        _lock(f, path)
        previous, records = read_attack_file(path)
        _check_same_configuration(path, previous, config)
        _drop_partial_last_line(path)
        done = {r["id"] for r in records}
        todo = [b for b in ([i for i in batch if keys[i] not in done] for batch in batches) if b]
        if previous is None:
            f.write(strict_json.dumps({HEADER: config}) + "\n")
        elif records and world().main:
            print(f"resuming: {len(records)} record(s) already in {path}, {sum(map(len, todo))} to go",
                  file=sys.stderr)
        _attack_into(f, clf, goal, dictionary, settings, texts, labels, keys, todo, records, corpus_words)


def part_path(out: Path, rank: int) -> Path:
    """The part file of ``rank`` for the output ``out``."""
    return out.with_name(out.name + ".parts") / f"rank-{rank}.jsonl"


def part_files(out: Path) -> list[Path]:
    """The part files that sharded runs left for ``out``, in rank order."""
    folder = out.with_name(out.name + ".parts")
    found = folder.glob("rank-*.jsonl") if folder.is_dir() else []
    return sorted(found, key=lambda p: int(p.stem.removeprefix("rank-")) if p.stem[5:].isdigit() else -1)


def _records_of(path: Path, config: dict) -> list[dict]:
    """The records of an attack file, refused when another configuration wrote it."""
    previous, records = read_attack_file(path)
    _check_same_configuration(path, previous, config)
    return records


def merge_parts(out: Path, config: dict, keys: Sequence[int]) -> None:
    """Fold the part files into ``out``, every record once, those of ``keys`` first in their order (then any that
    a larger earlier run left, as they were), and remove the parts. Merging again changes nothing."""
    parts = part_files(out)
    if not parts and not out.exists():
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "a", encoding="utf-8") as f:
        _lock(f, out)
        by_id: dict = {}
        for path in [out, *parts]:
            for r in _records_of(path, config):
                by_id.setdefault(r["id"], r)
        first = [by_id.pop(k) for k in keys if k in by_id]
        body = "".join(strict_json.dumps(r, ensure_ascii=False) + "\n" for r in [*first, *by_id.values()])
        scratch = out.with_name(out.name + ".merging")
        scratch.write_text(strict_json.dumps({HEADER: config}) + "\n" + body, encoding="utf-8")
        scratch.replace(out)
    for path in parts:
        path.unlink()
    if parts and not any(parts[0].parent.iterdir()):
        parts[0].parent.rmdir()


def check_out_file(out: Path, config: dict) -> None:
    """Refuse, before any work, an output file that holds records of another configuration."""
    _check_same_configuration(out, read_attack_file(out)[0], config)


def write_derived_records(out: Path, config: dict, records: list[dict]) -> None:
    """Write records computed from others (a transfer attack's, from its substitute's file) as a whole file;
    a file of another configuration already at ``out`` is refused, as ``attack_texts`` refuses it."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "a+", encoding="utf-8") as f:
        _lock(f, out)
        check_out_file(out, config)
        f.seek(0)
        f.truncate()
        f.write(strict_json.dumps({HEADER: config}) + "\n")
        for record in records:
            f.write(strict_json.dumps(record, ensure_ascii=False) + "\n")


def _lock(f, out: Path) -> None:
    """Hold ``out`` for this process alone: two attacks appending to one file would mix their records."""
    try:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise AdvtextError(f"{out} is being written by another advtext attack: wait for it to finish, or choose "
                           "another --out") from None


def _check_same_configuration(out: Path, previous: dict | None, config: dict) -> None:
    """Refuse to resume a file whose records were determined by something else."""
    if previous is None:
        return
    diff = sorted(k for k in set(previous) | set(config)
                  if k not in NOT_COMPARED and previous.get(k) != config.get(k))
    if not diff:
        return
    if "texts_sha256" in config and "texts_sha256" not in previous:
        raise AdvtextError(f"{out} was written by an older advtext, whose header does not say which texts it drew "
                           "from: choose another --out, or delete the file to start again")
    if "weights_sha256" in diff and previous.get("weights_sha256") and config.get("weights_sha256"):
        raise AdvtextError(f"{out} was begun on other weights of the model (it was retrained since): choose "
                           "another --out, or delete the file to start again")
    if "texts_sha256" in diff and previous.get("texts_sha256"):
        raise AdvtextError(f"{out} was begun on other texts (the input or the corpus changed since): choose "
                           "another --out, or delete the file to start again")
    raise AdvtextError(f"{out} was written by a different configuration ({', '.join(diff)}): "
                       "choose another --out, or delete the file to start again")


def _attack_into(f, clf: TextClassifier, goal: Goal, dictionary: Dictionary, settings: AttackSettings,
                 texts: Sequence[str], labels: Sequence[int], keys: Sequence[int], batches: list[list[int]],
                 records: list[dict], corpus_words: Container[str] | None) -> None:
    """Attack the ``batches`` (indices) one by one, appending each record to ``f`` and ``records``."""
    kind = QueryAttack if settings.query_only else SequenceAttack
    attack = kind(clf.model, goal, dictionary, settings)
    if batches:
        last = batches[0][-1]  # the longest text of the first batch
        _warm_up(clf, kind, dictionary, settings, texts[last], keys[last])
    with progress_bar(sum(map(len, batches)), f"attack ({settings.method}"
                                              f"{', query-only' if settings.query_only else ''})") as bar:
        for batch in batches:
            with cyclic_gc_paused():
                new = _attack_batch(clf, attack, goal, [texts[i] for i in batch], [labels[i] for i in batch],
                                    [keys[i] for i in batch], corpus_words)
                for record in new:
                    f.write(strict_json.dumps(record, ensure_ascii=False) + "\n")
            f.flush()
            records += new
            ok = sum(r["status"] == SUCCEEDED for r in records)
            tried = sum(r["status"] != SKIPPED for r in records)
            bar.advance(len(batch), success=f"{ok}/{tried}")


def _knows_a_word(row: list[int]) -> bool:
    """Whether the model knows a word of the text (ids): a text it knows none of is not attacked."""
    return any(x != Vocabulary.unk_id for x in row)


def _measures_similarity(settings: AttackSettings) -> bool:
    return settings.measure_similarity or settings.min_similarity is not None


def _warm_up(clf: TextClassifier, kind: type[SequenceAttack | QueryAttack], dictionary: Dictionary,
             settings: AttackSettings, text: str, key: int) -> None:
    """Classify one text as the float32 recheck does, attack it and discard the result, before any record is timed:
    a device's one-time start-up (a GPU's cuDNN plans and kernel loading, the CPU's compiled sign search, the
    sentence encoder) then counts in no record's seconds, as loading the model does not. The trial attack aims at
    the model's own prediction with no word budget, so that it surely runs the backward pass and the search."""
    if _measures_similarity(settings):
        sentence_encoder(str(clf.device)).encode([text])
    tokens = words(text)
    row = clf.vocab.encode(tokens[: clf.max_len])
    if _knows_a_word(row):
        own = int(clf.predict_proba_words([tokens]).argmax(-1))
        trial = kind(clf.model, Misclassification(), dictionary, replace(settings, max_change=None, min_words=0))
        trial.run([row], [own], [key])


def _attack_batch(clf: TextClassifier, attack: SequenceAttack, goal: Goal, texts: list[str], labels: list[int],
                  keys: list[int], corpus_words: Container[str] | None) -> list[dict]:
    start = time.perf_counter()
    all_tokens = [tokenize(t) for t in texts]
    tokens = [toks[: clf.max_len] for toks in all_tokens]
    ids = [clf.vocab.encode(toks.words) for toks in tokens]
    usable = [i for i, row in enumerate(ids) if _knows_a_word(row)]
    threshold = attack.settings.min_similarity
    encoder = sentence_encoder(str(clf.device)) if _measures_similarity(attack.settings) else None
    accept = None if threshold is None else similarity_check(encoder, [texts[i] for i in usable],
                                                             [tokens[i] for i in usable], clf.vocab, threshold)
    outcomes = dict(zip(usable, attack.run([ids[i] for i in usable], [labels[i] for i in usable],
                                           [keys[i] for i in usable], accept))) if usable else {}
    adversarial = {}
    for i, o in outcomes.items():
        adversarial[i] = adversarial_text(texts[i], tokens[i], o.ids, o.changed, clf.vocab)
    # the final word: split the adversarial texts into words again and classify them from scratch
    adversarial_words = {i: words(adversarial[i][0]) for i in outcomes}
    rechecked, confirmed = {}, {}
    if outcomes:
        probs = clf.predict_proba_words(list(adversarial_words.values()))
        reached = goal.done(probs, torch.tensor([labels[i] for i in outcomes]))
        rechecked, confirmed = dict(zip(outcomes, probs.tolist())), dict(zip(outcomes, reached.tolist()))
    # texts with no word the model knows are not attacked, but their prediction is recorded all the same
    unknown = [i for i in range(len(texts)) if i not in outcomes]
    unknown_probs = dict(zip(unknown, clf.predict_proba([texts[i] for i in unknown]).tolist())) if unknown else {}
    seconds = (time.perf_counter() - start) / len(texts)
    # each text's sentence similarity to its original (1 for a text left as it was; none when not measured)
    similarity = {} if encoder is None else dict.fromkeys(range(len(texts)), 1.0)
    changed = [i for i in outcomes if outcomes[i].changed and encoder is not None]
    if changed:
        similarity.update(zip(changed, encoder.similarity([texts[i] for i in changed],
                                                          [adversarial[i][0] for i in changed]).tolist()))
    records = []
    for i, text in enumerate(texts):
        record = {"id": keys[i], "label": labels[i], "original": text, "length": len(tokens[i])}
        if i not in outcomes:
            probs = rounded_probs(unknown_probs[i])
            pred = argmax(probs)
            record.update(status=SKIPPED, reason="no in-vocabulary word", adversarial=text, changes=[],
                          words_changed=0,
                          quality={**change_figures([], corpus_words), "similarity": similarity.get(i)},
                          pred_before=pred, probs_before=probs, pred_after=pred, probs_after=probs, forwards=1,
                          backwards=0, queries=1, seconds=round(seconds, 5))
            records.append(record)
            continue
        o = outcomes[i]
        probs = rechecked[i]
        status, reason = o.status, o.reason
        adv, changes = adversarial[i]
        intended = all_tokens[i].words.copy()
        for c in changes:
            intended[c["position"]] = c["new"]
        if adversarial_words[i] != intended:
            status, reason = FAILED, "the rewritten text does not tokenise into the attacked words"
        elif status == SUCCEEDED and not confirmed[i]:
            status, reason = FAILED, "the rewritten text does not reach the goal when classified again"
        sim = None if i not in similarity else round(similarity[i], 4)
        if status == SUCCEEDED and threshold is not None and sim < threshold:
            status, reason = FAILED, f"the rewritten text's similarity {sim:.3f} is below --min-similarity"
        record.update(status=status, reason=reason, adversarial=adv, changes=changes, words_changed=len(changes),
                      quality={**change_figures(changes, corpus_words), "similarity": sim},
                      pred_before=argmax(o.probs_before), probs_before=rounded_probs(o.probs_before),
                      pred_after=argmax(probs), probs_after=rounded_probs(probs), forwards=o.forwards,
                      backwards=o.backwards, queries=o.forwards, seconds=round(seconds, 5))
        records.append(record)
    return records


def similarity_check(encoder: SentenceEncoder, texts: list[str], tokens: list[Tokens], vocab: Vocabulary,
                     threshold: float):
    """An ``Accept`` for ``SequenceAttack.run``: a candidate, rewritten into the text it would make (as the record
    will be), must keep a sentence similarity of at least ``threshold`` to its original text."""
    originals = encoder.encode(texts)

    def accept(rows: torch.Tensor, candidates: torch.Tensor, changed: torch.Tensor) -> torch.Tensor:
        rewritten = [adversarial_text(texts[r], tokens[r], cand, ch.nonzero().flatten().tolist(), vocab)[0]
                     for r, cand, ch in zip(rows.tolist(), candidates.tolist(), changed.cpu())]
        sims = (encoder.encode(rewritten) * originals[rows.cpu()]).sum(-1)
        return (sims >= threshold).to(rows.device)

    return accept


def argmax(values: list[float]) -> int:
    """The index of the largest value, the first of equal ones (as ``torch.argmax``)."""
    return values.index(max(values))


def rounded_probs(values: list[float]) -> list[float]:
    """Probabilities as records keep them (6 decimals)."""
    return [round(float(v), 6) for v in values]
