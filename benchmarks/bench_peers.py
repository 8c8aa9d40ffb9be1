"""Side-by-side peer benchmark of the sequence attack: ONE model, the SAME reviews, every tool.

Run it through ``bash benchmarks/bench_peers.sh [N]`` (sets up the peer venvs and offline data
under $PEERS_ROOT first).  This script (advtext's venv):

1. exports advtext's IMDB LSTM (runs/imdb-lstm) to the harness format
   ($PEERS_ROOT/models/imdb100_lstm.pt + imdb100_vocab.json) and checks both models give the
   same logits;
2. writes $PEERS_ROOT/data/attack_imdb100.json: N IMDB *test* reviews of at most 100 tokens that
   the model classifies correctly, in a seeded order; tokens = advtext ``words(text)``,
   text = " ".join(tokens);
3. runs, sequentially: the harness's papernot_ref.py, run_openattack.py (--config vocab
   --grad-sign loss), run_textattack.py (--transformation gradient --wir gradient), then advtext's
   SequenceAttack in papernot and greedy mode on the same texts;
4. re-checks every reported success with the exported model, counts words changed the same way
   for every row (harness ``common.n_changed`` over harness tokens), prints the table and writes
   benchmarks/results/peers.md.

sec/review: peers = mean of their per-review attack-call times (harness's own timing);
advtext = wall time of the batched ``SequenceAttack.run`` calls / N (dictionary built outside).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
HARNESS = Path(os.environ.get("PEERS_HARNESS", Path(__file__).resolve().parents[2] / "shared" / "peers"))
ROOT = Path(os.environ.get("PEERS_ROOT", str(REPO / "benchmarks" / ".peers"))).resolve()
os.environ["PEERS_ROOT"] = str(ROOT)  # absolute: the harness scripts run with the harness folder as cwd
OUT_MD = REPO / "benchmarks" / "results" / "peers.md"
DS = "imdb100"

sys.path.insert(0, str(REPO))
sys.path.insert(1, str(HARNESS))

import common  # noqa: E402  (harness: tokenizer, LSTM class, n_changed; plain torch)
import torch  # noqa: E402

from advtext.goals import Misclassification  # noqa: E402
from advtext.text.attack import SUCCEEDED, AttackSettings, SequenceAttack  # noqa: E402
from advtext.text.classifier import TextClassifier, pad_ids  # noqa: E402
from advtext.text.corpora import load_imdb  # noqa: E402
from advtext.text.dictionary import build_dictionary  # noqa: E402
from advtext.text.tokenizer import words  # noqa: E402

PEERS = [  # (tag, venv, script, args, label); the tag is also the row's key
    ("bench_ref", "venv-oa", "papernot_ref.py", ["--seed", "0"],
     "harness papernot_ref (unbatched reference, Papernot)"),
    ("bench_oa_vocab_loss", "venv-oa", "run_openattack.py", ["--config", "vocab", "--grad-sign", "loss"],
     "OpenAttack 2.1.1 FDAttacker (Papernot), paper dictionary, grad sign fixed"),
    ("bench_ta_grad_grad", "venv-ta", "run_textattack.py", ["--transformation", "gradient", "--wir", "gradient"],
     "TextAttack 0.3.11 WordSwapGradientBased + GreedyWIR(gradient)"),
]


# sec/sent of the same rows in ../shared/peers/README.md (imdb100, quiet 2-core machine, harness's own LSTM)
QUIET_README = "papernot_ref 0.047 s, OpenAttack FD (vocab, sign fixed) 0.273 s, TextAttack gradient/gradient 0.012 s"
SHORT = {"bench_ref": "papernot_ref", "bench_oa_vocab_loss": "OpenAttack FD",
         "bench_ta_grad_grad": "TextAttack gradient"}


def export_model(clf: TextClassifier) -> None:
    """advtext LSTM -> harness state_dict + itos list; refuse anything the harness class cannot hold."""
    cfg = clf.config
    want = dict(bidirectional=False, pooling="mean", num_layers=1, num_classes=2, embed_dim=128, hidden_size=128)
    got = {k: getattr(cfg, k) for k in want}
    if type(clf.model).__name__ != "LSTMClassifier" or got != want:
        raise SystemExit(f"the harness LSTMClassifier cannot hold this model: {type(clf.model).__name__} {got}")
    sd = {k: v.detach().cpu().clone() for k, v in clf.model.state_dict().items()}
    ref = common.LSTMClassifier(len(clf.vocab.itos)).state_dict()
    if set(sd) != set(ref) or any(sd[k].shape != ref[k].shape for k in ref):
        raise SystemExit(f"state_dict mismatch: {sorted(set(sd) ^ set(ref))}")
    (ROOT / "models").mkdir(parents=True, exist_ok=True)
    torch.save(sd, ROOT / "models" / f"{DS}_lstm.pt")
    (ROOT / "models" / f"{DS}_vocab.json").write_text(json.dumps(clf.vocab.itos))
    (ROOT / "models" / f"{DS}_train.json").write_text(json.dumps(
        {"dataset": DS, "source": "advtext runs/imdb-lstm (exported)", "vocab": len(clf.vocab.itos),
         "train_size": 25000, "epochs": len(clf.info.get("history", [])), "train_secs": None}, indent=1))


def build_attack_set(clf: TextClassifier, n: int, seed: int) -> tuple[list[dict], dict]:
    test = load_imdb()["test"]
    texts, labels = test["text"], test["label"]
    pool, non_ascii = [], 0
    for i, (t, y) in enumerate(zip(texts, labels, strict=True)):
        toks = words(t)
        if not 1 <= len(toks) <= 100:
            continue
        text = " ".join(toks)
        if common.tokenize(text) != toks:  # non-ASCII words: the two tokenizers would disagree
            non_ascii += 1
            continue
        pool.append({"tokens": toks, "text": text, "label": int(y), "test_index": i})
    order = list(range(len(pool)))
    random.Random(seed).shuffle(order)
    pool = [pool[i] for i in order]
    ids = clf.token_ids([p["text"] for p in pool])
    probs = clf.predict_proba([p["text"] for p in pool])
    correct = [p for p, pr in zip(pool, probs.argmax(1).tolist(), strict=True) if pr == p["label"]]
    items = correct[:n]
    stats = {"pool_le100": len(pool), "excluded_tokenizer_mismatch": non_ascii,
             "acc_pool": len(correct) / len(pool), "mean_len": sum(len(p["tokens"]) for p in items) / len(items)}
    assert all(len(x) == len(p["tokens"]) for x, p in zip(ids, pool, strict=True))
    (ROOT / "data").mkdir(parents=True, exist_ok=True)
    (ROOT / "data" / f"attack_{DS}.json").write_text(json.dumps(items))
    return items, stats


def check_logits(clf: TextClassifier, items: list[dict]) -> float:
    hmodel, hvocab = common.load_model(DS)
    assert hvocab.itos == clf.vocab.itos
    ids_a = pad_ids(clf.token_ids([it["text"] for it in items]))
    ids_h = common.pad_batch([hvocab.encode(common.tokenize(it["text"])) for it in items], hvocab.pad)
    assert torch.equal(ids_a, ids_h), "advtext and harness encode the attack texts differently"
    with torch.no_grad():
        diff = (clf.model.eval()(ids_a) - hmodel(ids_h)).abs().max().item()
    if diff > 1e-4:
        raise SystemExit(f"exported model differs from advtext's: max |logit diff| = {diff}")
    return diff


def recheck(clf: TextClassifier, items: list[dict], advs: list[str | None]) -> dict:
    """Words changed and label flips of every reported success, counted one way for every row.

    Words changed = harness ``common.n_changed`` between the original tokens and the victim's tokens
    (advtext ``words``) of the adversarial text.  For ASCII text those equal the harness tokens; the
    vocabulary also holds a few non-ASCII words (e.g. "clichéd") that the harness regex would split,
    so flips are checked under both tokenizers (both models give identical logits)."""
    hmodel, hvocab = common.load_model(DS)
    succ = [(words(a), common.tokenize(a), it) for a, it in zip(advs, items, strict=True) if a is not None]
    out = {"changed": [common.n_changed(it["tokens"], w) for w, _, it in succ],
           "pct": [common.n_changed(it["tokens"], w) / len(it["tokens"]) for w, _, it in succ],
           "tok_mismatch": sum(w != h for w, h, _ in succ), "flip_victim": 0, "flip_harness": 0}
    if succ:
        p_v = clf.predict_proba([" ".join(w) for w, _, _ in succ]).argmax(1).tolist()
        p_h = common.predict_tokens(hmodel, hvocab, [h for _, h, _ in succ]).argmax(-1).tolist()
        out["flip_victim"] = sum(p != it["label"] for p, (_, _, it) in zip(p_v, succ, strict=True))
        out["flip_harness"] = sum(p != it["label"] for p, (_, _, it) in zip(p_h, succ, strict=True))
    return out


def cpu_busy(secs: float = 2.0) -> float:
    """Fraction of the machine's CPU time spent busy over ``secs`` (this process idle meanwhile)."""
    def sample():
        f = [int(x) for x in open("/proc/stat").readline().split()[1:]]
        return sum(f), f[3] + f[4]  # total, idle + iowait
    t0, i0 = sample()
    time.sleep(secs)
    t1, i1 = sample()
    return 1 - (i1 - i0) / max(1, t1 - t0)


class OthersCPU:
    """Share of the machine's CPU time used by OTHER processes during a block: machine busy time minus this
    process's and its children's CPU time, over the machine's total."""

    @staticmethod
    def _now():
        f = [int(x) for x in open("/proc/stat").readline().split()[1:]]
        own = os.times()
        return sum(f), sum(f) - f[3] - f[4], own.user + own.system + own.children_user + own.children_system

    def __enter__(self):
        self.t0 = self._now()
        return self

    def __exit__(self, *exc):
        tot0, busy0, own0 = self.t0
        tot1, busy1, own1 = self._now()
        hz = os.sysconf("SC_CLK_TCK")
        self.share = max(0.0, (busy1 - busy0) - (own1 - own0) * hz) / max(1, tot1 - tot0)


def wait_quiet(max_wait: float, threshold: float = 0.25) -> float:
    """Wait (at most ``max_wait`` s) until other jobs leave the CPUs mostly idle; the busy fraction seen last."""
    t0 = time.perf_counter()
    busy = cpu_busy()
    while busy > threshold and time.perf_counter() - t0 < max_wait:
        busy = cpu_busy()
    return busy


def run_peer(tag, venv, script, args, n) -> dict:
    (ROOT / "logs").mkdir(parents=True, exist_ok=True)
    cmd = [str(ROOT / venv / "bin" / "python"), script, "--dataset", DS, "--n", str(n), "--tag", tag, *args]
    print("==", " ".join(cmd[1:]), flush=True)
    t0 = time.perf_counter()
    with open(ROOT / "logs" / f"{tag}.log", "w") as log:
        rc = subprocess.run(cmd, cwd=HARNESS, stdout=log, stderr=subprocess.STDOUT, env=os.environ.copy()).returncode
    wall = time.perf_counter() - t0
    if rc:
        tail = (ROOT / "logs" / f"{tag}.log").read_text().splitlines()[-20:]
        raise SystemExit(f"{script} failed (rc {rc}):\n" + "\n".join(tail))
    res = json.loads((ROOT / "results" / f"{tag}.json").read_text())
    return {"rows": res["rows"], "summary": res["summary"], "process_wall": wall}


def run_advtext(clf: TextClassifier, items: list[dict], method: str, batch_size: int, seed: int) -> dict:
    t0 = time.perf_counter()
    dictionary = build_dictionary("vocab", clf.vocab)
    settings = AttackSettings(method=method, seed=seed)  # the CLI's defaults
    attack = SequenceAttack(clf.model, Misclassification(), dictionary, settings)
    setup = time.perf_counter() - t0
    ids = clf.token_ids([it["text"] for it in items])
    labels = [it["label"] for it in items]
    outcomes, attack_secs = [], 0.0
    for s in range(0, len(items), batch_size):
        t1 = time.perf_counter()
        keys = list(range(s, min(s + batch_size, len(items))))
        outcomes += attack.run(ids[s : s + batch_size], labels[s : s + batch_size], keys)
        attack_secs += time.perf_counter() - t1
    itos = clf.vocab.itos
    rows = []
    for it, orig, out in zip(items, ids, outcomes, strict=True):
        adv = [t if a == b else itos[b] for t, a, b in zip(it["tokens"], orig, out.ids, strict=True)]
        ok = out.status == SUCCEEDED
        rows.append({"success": ok, "changed": common.n_changed(it["tokens"], adv) if ok else 0,
                     "length": len(it["tokens"]), "adv": " ".join(adv) if ok else None,
                     "forwards": out.forwards, "backwards": out.backwards, "status": out.status})
    print(f"== advtext {method}: {sum(r['success'] for r in rows)}/{len(rows)} in {attack_secs:.2f}s", flush=True)
    return {"rows": rows, "attack_secs": attack_secs, "process_wall": time.perf_counter() - t0, "setup": setup}


def summary_row(clf, key, label, items, rows, sec_per_review, total, wall, load):
    advs = [r["adv"] if r["success"] else None for r in rows]
    c = recheck(clf, items, advs)
    n_succ = len(c["changed"])
    nan = float("nan")
    return {"key": key, "label": label, "N": len(rows), "success": 100 * n_succ / len(rows),
            "changed": sum(c["changed"]) / n_succ if n_succ else nan,
            "pct": 100 * sum(c["pct"]) / n_succ if n_succ else nan,
            "sec": sec_per_review, "total": total, "wall": wall, "n_succ": n_succ,
            "flip_victim": c["flip_victim"], "flip_harness": c["flip_harness"], "tok_mismatch": c["tok_mismatch"],
            "load": load,
            # the tool's own count, for reference (advtext rows: positions whose id changed)
            "changed_own": sum(r["changed"] for r in rows if r["success"]) / n_succ if n_succ else nan}


def fmt_pct(x) -> str:
    return "n/a" if x is None else f"{100 * x:.0f} %"


def table(rows) -> str:
    out = ["| tool / method | N | success % | mean words changed (succ.) | % tokens changed (succ.) | sec/review "
           "| attack total s | process wall s | flips re-verified (victim tok. / harness tok.) "
           "| CPU busy before start | other jobs' CPU share during the row |",
           "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        out.append(f"| {r['label']} | {r['N']} | {r['success']:.1f} | {r['changed']:.2f} | {r['pct']:.2f} "
                   f"| {r['sec']:.4f} | {r['total']:.1f} | {r['wall']:.1f} "
                   f"| {r['flip_victim']}/{r['n_succ']} / {r['flip_harness']}/{r['n_succ']} "
                   f"| {100 * r['load']:.0f} % | {fmt_pct(r.get('others'))} |")
    return "\n".join(out)


def write_report(results: list[dict], stats: dict, diff: float, meta: dict) -> None:
    tab = table(results)
    by = {r["key"]: r for r in results}
    pap, gre, ta = by["papernot"], by["greedy"], by["bench_ta_grad_grad"]
    peers = [r for r in results if r["key"].startswith("bench_")]
    faster_all = all(pap["sec"] < p["sec"] for p in peers)
    ratio = ta["sec"] / gre["sec"]
    findings = [
        f"- advtext papernot is faster per review than every peer row: **{'yes' if faster_all else 'no'}** "
        f"({pap['sec']:.4f} s vs " + ", ".join(f"{SHORT[p['key']]} {p['sec']:.4f} s" for p in peers) + ").",
        f"- advtext greedy changes fewer words than TextAttack's gradient attack: "
        f"**{'yes' if gre['changed'] < ta['changed'] else 'no'}** ({gre['changed']:.2f} vs {ta['changed']:.2f} "
        f"tokens per success; success {gre['success']:.1f} % vs {ta['success']:.1f} %).",
        f"- advtext greedy runs at least 2x faster than TextAttack's gradient attack: "
        f"**{'yes' if ratio >= 2 else 'no'}** ({ta['sec']:.4f} / {gre['sec']:.4f} s per review = {ratio:.2f}x).",
    ]
    busy = [r for r in results if max(r["load"], r.get("others") or 0) > 0.3]
    if busy and len(busy) < len(results):
        findings.append(
            "\n**Caveat: the rows did not run under the same conditions.** Other jobs kept the CPUs busy when "
            + ", ".join(f"{SHORT.get(r['key'], 'advtext ' + r['key'])}" for r in busy)
            + " ran (columns 'CPU busy before start' / 'other jobs' CPU share'), and a busy 2-core machine slows "
            "torch's 2-thread kernels far more than proportionally. "
            "For scale, the harness README's quiet-machine timings (its own LSTM of the same architecture, same "
            f"harness, same kind of machine) are: {QUIET_README}; compare advtext against those too before "
            "quoting a ratio.")
    load = meta.get("load_end")
    load = f"{load[0]:.1f}/{load[1]:.1f}/{load[2]:.1f}" if load else "n/a"
    mismatch = ", ".join(f"{SHORT.get(r['key'], 'advtext ' + r['key'])} {r['tok_mismatch']}" for r in results)
    md = f"""# Peer benchmark: sequence attack (advtext vs harness reference, OpenAttack, TextAttack)

Reproduce: `bash benchmarks/bench_peers.sh {meta['n']}` (peer venvs, data and per-row results under
`benchmarks/.peers`, git-ignored; harness = `{os.path.relpath(HARNESS, REPO)}`).

Measured {meta['started']} on {platform.machine()}, {os.cpu_count()} CPU cores, torch {torch.__version__} with its
default {meta['threads']} intra-op threads in every row, no GPU.  **The machine was shared with other engineers'
jobs** (load average at the end {load}), so timings are noisy; see the last column.

* **Model**: advtext `runs/imdb-lstm` (Embedding 20002x128 -> 1-layer LSTM 128 -> masked mean pool -> Linear 2),
  exported to the harness format; max |logit difference| advtext vs harness model on the attack set = {diff:.1e}.
* **Reviews**: the same {meta['n']} IMDB test reviews for every row: of the {stats['pool_le100']} test reviews of
  at most 100 advtext tokens ({stats['excluded_tokenizer_mismatch']} more skipped because a non-ASCII word would
  tokenise differently under the harness tokenizer), shuffled with seed {meta['seed']}, the first correctly
  classified ones (accuracy on that pool {stats['acc_pool']:.3f}); mean length {stats['mean_len']:.1f} tokens.
  Every tool gets `" ".join(tokens)`.
* **Words changed**: token positions that differ from the original (the harness's `common.n_changed`, punctuation
  included, a position rewritten twice counts once) between the original tokens and the victim's tokens (advtext
  `words`) of each reported adversarial text; mean over successes; the identical rule for every row.
* **sec/review**: peers = mean per-review attack-call time as timed by the harness scripts (imports and model
  load excluded); advtext = wall time of the batched `SequenceAttack.run` calls (batches of {meta['batch_size']},
  dictionary built outside, no warm-up) / N.  *process wall s* = whole subprocess incl. imports/model load (peers)
  or dictionary build + attack (advtext, in-process).
* **flips re-verified**: every reported adversarial text re-tokenised and re-classified, with the victim's own
  tokenizer (advtext `words`) and with the harness tokenizer.  The two differ only on non-ASCII vocabulary words
  (e.g. "clichéd", which the harness regex splits into 3 tokens); successful adversarial texts containing such a
  word: {mismatch}.
* **CPU busy before start**: share of the machine's CPU time used by other jobs over the 2 s before the row started
  (each row first waits up to {meta['max_wait']:.0f} s for it to drop below 25 %); **other jobs' CPU share during
  the row** = machine busy time minus this benchmark's own (and its subprocesses') CPU time, over the machine's
  total, while the row ran.
* Rows: `papernot_ref.py --seed 0` (random position with replacement, max len(x) iterations);
  `run_openattack.py --config vocab --grad-sign loss` (whole vocabulary, max_iter = len(x));
  `run_textattack.py --transformation gradient --wir gradient` (top_n=1, NLTK stopwords protected, punctuation never
  attacked); advtext `AttackSettings(method=..., seed={meta['seed']})` (the CLI's defaults), goal
  `Misclassification`, dictionary `vocab` (whole vocabulary, the paper's D; papernot mode draws untried positions).

{tab}

Findings:

{chr(10).join(findings)}
"""
    OUT_MD.parent.mkdir(parents=True, exist_ok=True)
    OUT_MD.write_text(md)
    print(tab)
    print("\n".join(findings))
    print(f"wrote {OUT_MD}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0, help="attack-set order and every attack's seed")
    ap.add_argument("--run", default=str(REPO / "runs" / "imdb-lstm"))
    ap.add_argument("--batch-size", type=int, default=128, help="advtext batch (the CLI's default)")
    ap.add_argument("--max-wait", type=float, default=30.0,
                    help="before each row wait up to this many seconds for the CPUs to be mostly idle (other jobs)")
    ap.add_argument("--report-only", action="store_true",
                    help="rewrite the markdown from $PEERS_ROOT/results/bench_peers_summary.json")
    ap.add_argument("--prepare-only", action="store_true", help="export the model and the attack set, then stop")
    a = ap.parse_args()
    t_start = time.time()
    if a.report_only:
        res = json.loads((ROOT / "results" / "bench_peers_summary.json").read_text())
        made = os.path.getmtime(ROOT / "data" / f"attack_{DS}.json")
        meta = res.get("meta") or {"n": a.n, "seed": a.seed, "batch_size": a.batch_size, "max_wait": a.max_wait,
                                   "threads": torch.get_num_threads(),
                                   "started": time.strftime("%Y-%m-%d %H:%M", time.localtime(made))}
        write_report(res["rows"], res["stats"], res["logit_diff"], meta)
        return

    clf = TextClassifier.load(a.run, "cpu")
    export_model(clf)
    items, stats = build_attack_set(clf, a.n, a.seed)
    if len(items) < a.n:
        raise SystemExit(f"only {len(items)} usable reviews")
    diff = check_logits(clf, items)
    print(f"exported {a.run} -> {ROOT}/models ({DS}), max |logit diff| {diff:.2e}; attack set {len(items)} reviews, "
          f"mean {stats['mean_len']:.1f} tokens", flush=True)
    if a.prepare_only:
        return

    results = []
    for tag, venv, script, args, label in PEERS:
        load = wait_quiet(a.max_wait)
        with OthersCPU() as others:
            r = run_peer(tag, venv, script, args, a.n)
        s = r["summary"]
        results.append(summary_row(clf, tag, label, items, r["rows"], s["sec_per_sentence"], s["total_secs"],
                                   r["process_wall"], load))
        results[-1]["others"] = others.share
    for method, label in [("papernot", "advtext SequenceAttack papernot (batched)"),
                          ("greedy", "advtext SequenceAttack greedy (batched, top_positions="
                                     f"{AttackSettings.top_positions}, verify={AttackSettings.verify})")]:
        load = wait_quiet(a.max_wait)
        with OthersCPU() as others:
            r = run_advtext(clf, items, method, a.batch_size, a.seed)
        results.append(summary_row(clf, method, label, items, r["rows"], r["attack_secs"] / len(items),
                                   r["attack_secs"], r["process_wall"], load))
        results[-1]["others"] = others.share

    meta = {"n": a.n, "seed": a.seed, "batch_size": a.batch_size, "max_wait": a.max_wait,
            "started": time.strftime("%Y-%m-%d %H:%M", time.localtime(t_start)), "load_end": list(os.getloadavg()),
            "threads": torch.get_num_threads()}
    (ROOT / "results" / "bench_peers_summary.json").write_text(json.dumps(
        {"rows": results, "stats": stats, "logit_diff": diff, "meta": meta}, indent=1))
    write_report(results, stats, diff, meta)

if __name__ == "__main__":
    main()
