"""advtext against TextAttack 0.3.11 on the same transformer and the same sentences.

    python benchmarks/bench_transformer_peers.py [--n 200]

Needs the MiniLM run of benchmarks/bench_transformer.py and TextAttack's venv from
benchmarks/bench_peers.sh (under $PEERS_ROOT, default benchmarks/.peers). Steps, each printed:
1. `advtext export` writes the run as a Hugging Face folder, which TextAttack's
   HuggingFaceModelWrapper reads as it reads any fine-tuned model;
2. advtext's greedy attack with the WordNet dictionary (PWWS's candidates, stopwords kept, no
   word cap) on N Rotten Tomatoes test sentences the model classifies correctly: as it is, with a
   wider search, in its query-only form, and with the label-preserving constraints;
3. TextAttack's PWWS recipe (WordNet synonyms, stopwords kept, greedy by weighted saliency) on
   exactly those sentences, and an attempt to build its TextFooler and gradient recipes;
4. the figures of both, computed the same way: similarity by the same MiniLM sentence encoder,
   polarity breaks by the same VADER rule. Writes benchmarks/results/transformer_peers.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch
from commands import ROOT, advtext, pct

sys.path.insert(0, str(ROOT))

from advtext.metrics import attack_summary  # noqa: E402
from advtext.text.polarity import breaks_polarity  # noqa: E402
from advtext.text.run_attack import read_attack_file  # noqa: E402
from advtext.text.similarity import sentence_encoder  # noqa: E402

RUN = ROOT / "runs" / "bench-transformer" / "rt-minilm"
PEERS = Path(os.environ.get("PEERS_ROOT", str(ROOT / "benchmarks" / ".peers"))).resolve()
WORK = PEERS / "transformer"
WORDNET = ["--method", "greedy", "--dictionary", "wordnet", "--protect-stopwords"]
SETTINGS = [
    ("advtext greedy, WordNet, stopwords kept", WORDNET),
    ("advtext greedy, WordNet, stopwords kept, wider search (20 positions x 4 words, 40 verified per step)",
     [*WORDNET, "--top-positions", "20", "--words-per-position", "4", "--verify", "40"]),
    ("advtext greedy, WordNet, stopwords kept, query-only (`--threat oracle`)", [*WORDNET, "--threat", "oracle"]),
    ("advtext greedy, WordNet, stopwords kept, similarity >= 0.84, polarity guard",
     [*WORDNET, "--min-similarity", "0.84", "--polarity-guard"]),
]
HEADER = ["| attack | success rate | words changed (mean) | % words changed | mean similarity | "
          "successes with a polarity break | model calls per sentence | s/sentence |",
          "|---|---|---|---|---|---|---|---|"]


def textattack(recipe: str, model: Path, texts: Path, out: Path, max_length: int) -> tuple[dict | None, str]:
    """Run one TextAttack recipe in its venv; its results, or None and the reason it gave."""
    print(f"$ textattack {recipe} on {texts.name}", flush=True)
    done = subprocess.run([str(PEERS / "venv-ta" / "bin" / "python"), str(ROOT / "benchmarks" / "textattack_hf.py"),
                           "--model", str(model), "--texts", str(texts), "--recipe", recipe,
                           "--nltk-data", str(ROOT / "data" / "nltk"),
                           "--nltk-data", str(PEERS / "data" / "nltk_data"), "--cache", str(PEERS / "cache"),
                           "--max-length", str(max_length), "--out", str(out)], capture_output=True, text=True)
    if done.returncode == 2:
        return None, done.stderr.strip().splitlines()[-1]
    if done.returncode != 0:
        raise SystemExit(f"TextAttack {recipe} failed:\n{done.stderr[-2000:]}")
    return json.loads(out.read_text()), ""


def textattack_row(name: str, result: dict, originals: list[str]) -> str:
    """TextAttack's results as a table row, measured as advtext measures its own."""
    rows = result["results"]
    tried = [r for r in rows if r["status"] != "skipped"]
    wins = [(r, o) for r, o in zip(rows, originals) if r["status"] == "succeeded"]
    changed = [len(r["changed"]) for r, _ in wins]
    percent = [100 * len(r["changed"]) / len(r["original_words"]) for r, _ in wins]
    encoder = sentence_encoder("cpu")
    similarity = encoder.similarity([o for _, o in wins], [r["perturbed"] for r, _ in wins]).tolist() if wins else []
    broken = sum(any(breaks_polarity(r["original_words"][i], r["perturbed_words"][i]) for i in r["changed"])
                 for r, _ in wins)
    mean = lambda xs: sum(xs) / len(xs) if xs else 0.0  # noqa: E731
    queries = [r["queries"] for r in tried]
    return (f"| {name} | {pct(len(wins) / len(tried) if tried else None)} | {mean(changed):.2f} | "
            f"{mean(percent):.1f} | {mean(similarity):.3f} | {pct(broken / len(wins) if wins else None)} | "
            f"{mean(queries):.1f} queries (median {statistics.median(queries) if queries else 0:.0f}) | "
            f"{mean([r['seconds'] for r in rows]):.3f} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=200, help="test sentences attacked")
    ap.add_argument("--ta-max-length", type=int, default=128,
                    help="TextAttack's HuggingFaceModelWrapper pads every input to the tokenizer's model_max_length "
                         "(512 here by default): the length it is given")
    args = ap.parse_args()
    if not (RUN / "model.safetensors").exists():
        raise SystemExit(f"no MiniLM run in {RUN}: run benchmarks/bench_transformer.py first")
    if not (PEERS / "venv-ta" / "bin" / "python").exists():
        raise SystemExit(f"no TextAttack venv in {PEERS}: run bash benchmarks/bench_peers.sh first")
    WORK.mkdir(parents=True, exist_ok=True)
    model = WORK / "rt-minilm-hf"
    advtext("export", str(RUN), "--out", str(model), "--overwrite")
    lines = [f"advtext and TextAttack 0.3.11 on the same MiniLM (fine-tuned on Rotten Tomatoes) and the same "
             f"{args.n} test sentences it classifies correctly:", "", *HEADER]
    originals = labels = None
    for k, (name, extra) in enumerate(SETTINGS):
        out = WORK / f"advtext{k}.jsonl"
        out.unlink(missing_ok=True)
        start = time.perf_counter()
        advtext("attack", str(RUN), "--corpus", "rotten-tomatoes", "--split", "test", "--only-correct", "--n",
                str(args.n), "--batch-size", "64", *extra, "--out", str(out))
        print(f"  {time.perf_counter() - start:.0f} s", flush=True)
        records = read_attack_file(out)[1]
        if originals is None:
            originals, labels = [r["original"] for r in records], [r["label"] for r in records]
        s = attack_summary(records)
        q = s["quality"]
        calls = s["queries"]
        lines.append(f"| {name} | {pct(s['success_rate'])} | {s['words_changed']['mean'] or 0:.2f} | "
                     f"{s['percent_words_changed']['mean'] or 0:.1f} | {q['mean_similarity'] or 0:.3f} | "
                     f"{pct(q['texts_with_polarity_break'])} | {calls['mean']:.1f} queries (median "
                     f"{calls['median']:.0f}), {s['backwards_per_sentence']:.1f} backward passes | "
                     f"{s['seconds_per_sentence']:.3f} |")
        print(lines[-1], flush=True)
    texts = WORK / "texts.jsonl"
    texts.write_text("".join(json.dumps({"text": t, "label": y}) + "\n" for t, y in zip(originals, labels)))
    notes = []
    for recipe, name in (("pwws", "TextAttack PWWS (WordNet, stopwords kept)"), ("textfooler", "TextAttack TextFooler"),
                         ("gradient", "TextAttack HotFlip (gradient word swap)")):
        start = time.perf_counter()
        result, reason = textattack(recipe, model, texts, WORK / f"textattack-{recipe}.json", args.ta_max_length)
        print(f"  {time.perf_counter() - start:.0f} s", flush=True)
        if result is None:
            notes.append(f"- {name}: not run. {reason}")
        else:
            lines.append(textattack_row(name, result, originals))
        print(lines[-1] if result else notes[-1], flush=True)
    lines += ["", f"CPU only, torch threads: {torch.get_num_threads()} in both. advtext attacks 64 sentences per "
              "batch and its s/sentence is the batch's time shared out; TextAttack's is the mean time of its "
              "per-sentence attack call. % words changed: each tool's own word count. Similarity: cosine of "
              "all-MiniLM-L6-v2 sentence embeddings between each adversarial text and its original, over "
              "successes, by advtext's encoder for both. Model calls: the texts each tool had the model classify "
              "(advtext classifies them in batches), and advtext's backward passes. TextAttack's "
              f"HuggingFaceModelWrapper pads every input to the tokenizer's model_max_length, set here to "
              f"{args.ta_max_length} pieces (the exported tokenizer says 512; `--ta-max-length 512` measures "
              "that default); advtext pads each batch to its longest text.", "", *notes]
    table = "\n".join(lines)
    print(table)
    (ROOT / "benchmarks" / "results" / "transformer_peers.md").write_text(table + "\n")


if __name__ == "__main__":
    main()
