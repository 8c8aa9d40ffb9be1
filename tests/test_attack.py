"""The sequence attack on a small real model: every claim a record makes is checked from scratch."""

import gc
import json
import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest
import torch
from cli_helpers import comparable
from device_reads import DeviceReads

from advtext.errors import AdvtextError
from advtext.goals import Misclassification, TargetedMisclassification
from advtext.text import run_attack as run_attack_module
from advtext.text import sign_search
from advtext.text.attack import AttackSettings, SequenceAttack
from advtext.text.dictionary import build_dictionary, stopword_mask
from advtext.text.run_attack import adversarial_text, attack_texts, read_attack_file
from advtext.text.sign_search import sign_distance, sign_match
from advtext.text.tokenizer import words


@pytest.fixture(scope="module")
def sample(small_clf, rotten):
    _, clf = small_clf
    texts, labels = rotten["test"]["text"][:60], rotten["test"]["label"][:60]
    return clf, texts, labels


def run_attack(clf, texts, labels, out, method="papernot", dictionary="vocab", batch_size=64, **kw):
    goal = kw.pop("goal", Misclassification())
    protect = kw.pop("protect_stopwords", False)
    d = build_dictionary(dictionary, clf.vocab, protect_stopwords=protect)
    settings = AttackSettings(method=method, **kw)
    config = {"method": method, "dictionary": dictionary, **kw}
    return attack_texts(clf, texts, labels, list(range(len(texts))), goal, d, settings, out, config, batch_size)


@pytest.mark.parametrize("method", ["papernot", "greedy"])
def test_records_are_true_when_checked_from_scratch(sample, tmp_path, method):
    clf, texts, labels = sample
    records = run_attack(clf, texts, labels, tmp_path / "a.jsonl", method=method)
    succeeded = [r for r in records if r["status"] == "succeeded"]
    assert len(succeeded) >= 0.9 * sum(r["status"] != "skipped" for r in records)
    assert not [r["reason"] for r in records if "rewritten text" in r["reason"]]
    probs = clf.predict_proba([r["adversarial"] for r in succeeded])
    assert (probs.argmax(1) != torch.tensor([r["label"] for r in succeeded])).all()
    for r in records:
        before, after = words(r["original"])[: clf.max_len], words(r["adversarial"])[: clf.max_len]
        assert len(before) == len(after)
        differing = [i for i, (a, b) in enumerate(zip(before, after)) if a != b]
        assert differing == [c["position"] for c in r["changes"]]
        assert all(after[c["position"]] == c["new"] and before[c["position"]] == c["old"] for c in r["changes"])
        if r["status"] == "skipped":
            assert r["pred_before"] != r["label"] and not r["changes"]


@pytest.mark.parametrize("method, query_only", [("papernot", False), ("greedy", False), ("greedy", True)])
def test_the_warm_up_attacks_one_text_first_and_changes_no_record(sample, tmp_path, monkeypatch, method, query_only):
    clf, texts, labels = sample
    calls = []  # per run: rows, whether the cycle collector ran, the outcomes

    def recording(self, rows, *a, _run, **k):
        outcomes = _run(self, rows, *a, **k)
        calls.append((len(rows), gc.isenabled(), outcomes))
        return outcomes

    for name in ("SequenceAttack", "QueryAttack"):
        cls = getattr(run_attack_module, name)
        monkeypatch.setattr(cls, "run", lambda self, rows, *a, _run=cls.run, **k: recording(self, rows, *a,
                                                                                             _run=_run, **k))
    kw = {"method": method, "query_only": query_only, "max_change": 0.1, "measure_similarity": False,
          "dictionary": "wordnet" if query_only else "vocab"}
    warmed = run_attack(clf, texts[:40], labels[:40], tmp_path / "warm.jsonl", batch_size=16, **kw)
    assert [rows for rows, _, _ in calls] == [1, 16, 16, 8]  # one text, then the three batches
    assert calls[0][1] and not any(enabled for _, enabled, _ in calls[1:])  # collector paused for the batches
    calls.clear()  # a budget that lets no word of these texts change: the warm-up still runs the passes in full
    run_attack(clf, texts[:16], labels[:16], tmp_path / "tight.jsonl", batch_size=16, **{**kw, "max_change": 0.01})
    trial, first = calls[0][2][0], calls[1][2]
    assert trial.forwards > 1 and (query_only or trial.backwards >= 1) and not any(o.changed for o in first)
    monkeypatch.setattr(run_attack_module, "_warm_up", lambda *a: None)
    cold = run_attack(clf, texts[:40], labels[:40], tmp_path / "cold.jsonl", batch_size=16, **kw)
    assert comparable(warmed) == comparable(cold)


def test_constraints_hold_in_every_record(sample, tmp_path):
    clf, texts, labels = sample
    records = run_attack(clf, texts, labels, tmp_path / "a.jsonl", dictionary="wordnet", max_change=0.2,
                         protect_stopwords=True)
    d = build_dictionary("wordnet", clf.vocab, protect_stopwords=True)
    stop = stopword_mask(clf.vocab)
    assert any(r["changes"] for r in records)
    for r in records:
        assert r["words_changed"] <= max(1, int(0.2 * r["length"]))
        for c in r["changes"]:
            old, new = clf.vocab.stoi[c["old"]], clf.vocab.stoi[c["new"]]
            assert not stop[old] and not stop[new]
            assert new in d.candidates[old].tolist()


@pytest.mark.parametrize("method,memory", [("numba", None), ("blocked", None), ("blocked", 4 * 7 * 6 * 3)])
def test_sign_matching_equals_brute_force_over_a_small_dictionary(method, memory):
    """The numba kernel and the tensor path (one block of words, or blocks of 3 words: the tied rows 7 and 9
    then fall in different blocks) against the definition."""
    torch.manual_seed(0)
    table = torch.randn(40, 6)
    table[7] = table[9]  # a duplicate row: ties must go to the lower id
    current = torch.randint(2, 40, (25,))
    signs = torch.sign(torch.randn(25, 6))
    signs[0, :3] = 0.0  # zero gradient components too
    allowed = torch.rand(40) > 0.2
    best, dist = sign_match(table, current, signs, allowed, chunk=7, method=method, memory=memory)
    for j in range(25):
        brute = [(sum(abs(float(torch.sign(table[z, k] - table[current[j], k])) - float(signs[j, k]))
                      for k in range(6)), z) for z in range(40) if allowed[z] and z != current[j]]
        assert (dist[j].item(), best[j].item()) == min(brute)
    full = sign_distance(table, table[current], signs)
    assert torch.equal(full.gather(1, best[:, None]).squeeze(1), dist)


def test_triton_sign_search_equals_the_numba_kernel_in_tritons_interpreter():
    """The GPU kernel, run on the CPU by Triton's interpreter (which must be switched on before Triton is first
    imported, hence a process of its own): three query blocks, three splits of the vocabulary with tied words
    in different splits, zero signs, words nobody may pick, and a query with no word allowed."""
    pytest.importorskip("triton", reason="Triton comes with the dev extras on Linux x86-64 only")
    script = textwrap.dedent("""
        import torch
        from advtext.text.sign_search import sign_match
        torch.manual_seed(1)
        table = torch.randn(300, 16)
        table[260] = table[200]  # a tie across splits: the lower id must win
        current = torch.randint(1, 300, (70,)); current[4] = 17
        signs = torch.sign(torch.randn(70, 16)); signs[:4, :2] = 0.0
        signs[4] = torch.sign(table[200] - table[17])  # distance 0 to words 200 and 260
        allowed = torch.rand(300) > 0.3; allowed[200] = allowed[260] = True
        for mask in (allowed, torch.zeros(300, dtype=torch.bool)):
            got = sign_match(table, current, signs, mask, method="triton")
            want = sign_match(table, current, signs, mask, method="numba")
            assert torch.equal(got[0], want[0]) and torch.equal(got[1], want[1]), (got, want)
            if mask.any():
                assert (got[0][4].item(), got[1][4].item()) == (200, 0.0), got
        print("same", int((got[0] == -1).sum()))
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "TRITON_INTERPRET": "1"})
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split() == ["same", "70"]


def test_triton_kernel_compiles_for_hopper_gpus_without_spilling():
    """The interpreter cannot catch what only the GPU compiler refuses: compile the kernel with its default tile
    for sm_90 (H100, H200) with Triton's own ptxas, which needs no GPU, and read its register use."""
    pytest.importorskip("triton", reason="Triton comes with the dev extras on Linux x86-64 only")
    import triton
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource

    from advtext.text.triton_search import TILE_QUERIES, TILE_WARPS, TILE_WORDS, _scan

    signature = {"table_t": "*fp32", "x_t": "*fp32", "s_t": "*fp32", "current": "*i64", "allowed": "*i8",
                 "out_dist": "*fp32", "out_id": "*i32", **dict.fromkeys(["n", "vocab", "dim", "words_per_split",
                                                                         "splits"], "i32"),
                 "QUERIES": "constexpr", "WORDS": "constexpr"}
    kernel = triton.compile(ASTSource(_scan, signature, {"QUERIES": TILE_QUERIES, "WORDS": TILE_WORDS}),
                            target=GPUTarget("cuda", 90, 32), options={"num_warps": TILE_WARPS})
    ptx = kernel.asm["ptx"]
    assert ".target sm_90" in ptx and kernel.asm["cubin"]
    ptxas = Path(triton.__file__).parent / "backends" / "nvidia" / "bin" / "ptxas"
    if not ptxas.exists():
        pytest.skip("this Triton has no bundled ptxas")
    source = Path(tempfile.mkdtemp()) / "scan.ptx"
    source.write_text(ptx)
    report = subprocess.run([str(ptxas), "-v", "--gpu-name", "sm_90a", str(source), "-o", os.devnull],
                            capture_output=True, text=True, timeout=120).stderr
    assert "0 bytes spill stores" in report, report
    registers = int(report.split("Used ")[1].split(" registers")[0])
    assert registers <= 128, report  # enough warps stay resident to hide the loads


def test_sign_rule_direction_untargeted_lowers_and_targeted_raises_the_class():
    """Two candidate words, one along +J and one along -J: the rule must take the goal's side."""
    from advtext.text.models import ModelConfig, build_model

    torch.manual_seed(0)
    model = build_model(ModelConfig(vocab_size=5, embed_dim=4, hidden_size=4)).eval()
    ids = torch.tensor([[2]])
    emb = model.embedding.weight.detach()
    x = emb[2]
    e = emb[2:3].clone().requires_grad_(True)
    p = torch.softmax(model.forward_embeddings(e[None], ids != 0), -1)[0]
    (j_class0,) = torch.autograd.grad(p[0], e)
    step = 0.05 * torch.sign(j_class0[0])
    model.embedding.weight.data[3] = x + step  # raises p[0] to first order
    model.embedding.weight.data[4] = x - step  # lowers p[0]
    d = build_dictionary("vocab", __import__("advtext.text.tokenizer", fromlist=["Vocabulary"]).Vocabulary(
        ["<pad>", "<unk>", "a", "up", "down"]))
    d.allowed[2] = False
    pick = {}
    for name, goal, label in (("untargeted", Misclassification(), 0), ("targeted", TargetedMisclassification(0), 1)):
        # the goal must not hold yet (no gradient is taken then); the bias leaves the sign of dp0/de unchanged
        model.fc.bias.data[:] = torch.tensor([5.0, 0.0]) if name == "untargeted" else torch.tensor([0.0, 5.0])
        attack = SequenceAttack(model, goal, d, AttackSettings(max_change=1.0))
        _, grad, _, _ = attack._log_probs_and_grad(ids, torch.tensor([label]))
        pos, sub, _, _ = attack._papernot_step(ids, grad, ids != 0, torch.ones(1, 1))
        pick[name] = int(sub[0])
    assert pick == {"untargeted": 4, "targeted": 3}


@pytest.mark.parametrize("dictionary", ["vocab", "wordnet", "glove:0.7"])
@pytest.mark.parametrize("method", ["papernot", "greedy"])
def test_batched_and_one_at_a_time_give_the_same_records(sample, tmp_path, method, dictionary):
    """Short snippets and long texts in one batch; with the synonym dictionaries, stopwords kept and a
    word budget, rows run out of candidates at different steps (the greedy step once crashed there)."""
    clf, texts, labels = sample
    mixed = [t if i % 3 else " ".join(texts[i : i + 4]) for i, t in enumerate(texts[:24])]
    constraints = {} if dictionary == "vocab" else {"protect_stopwords": True, "max_change": 0.2}
    clf.model.double()
    try:
        batched = run_attack(clf, mixed, labels[:24], tmp_path / "b.jsonl", method=method, dictionary=dictionary,
                             batch_size=24, **constraints)
        single = run_attack(clf, mixed, labels[:24], tmp_path / "s.jsonl", method=method, dictionary=dictionary,
                            batch_size=1, **constraints)
    finally:
        clf.model.float()
    assert comparable(batched) == comparable(single)
    assert len({r["length"] for r in batched}) > 5 and any(r["status"] == "succeeded" for r in batched)


def test_every_sign_search_gives_the_same_papernot_records(sample, tmp_path):
    """The numba kernel (the CPU's default) and the blocked tensor search, on a mixed batch, with the whole
    vocabulary and with its polarity guard (one search per class of replaced word, each with its own words)."""
    clf, texts, labels = sample
    mixed = [t if i % 3 else " ".join(texts[i : i + 4]) for i, t in enumerate(texts[:30])]
    for guard in (False, True):
        d = build_dictionary("vocab", clf.vocab, polarity_guard=guard)
        assert (d.allowed_by_class is not None) == guard
        runs = [attack_texts(clf, mixed, labels[:30], list(range(30)), Misclassification(), d,
                             AttackSettings(sign_search=search), tmp_path / f"{guard}-{search}.jsonl",
                             {"guard": guard}, 64) for search in ("numba", "blocked")]
        assert comparable(runs[0]) == comparable(runs[1])
        assert any(r["status"] == "succeeded" for r in runs[0])
    from advtext.cli import attack

    assert tuple(next(p for p in attack.params if p.name == "sign_search").type.choices) == sign_search.METHODS
    with pytest.raises(AdvtextError, match="unknown sign search 'fast': use one of numba, triton, blocked"):
        AttackSettings(sign_search="fast")  # the API's settings, which no click choice guards


def test_bf16_attacks_are_judged_in_float32(sample, tmp_path):
    """Under bfloat16 autocast the attack still succeeds on most texts, mostly with the same changes as in float32,
    and every record's final probabilities are float32's (each adversarial text classified again)."""
    clf, texts, labels = sample
    runs = {bf16: run_attack(clf, texts[:40], labels[:40], tmp_path / f"{bf16}.jsonl", bf16=bf16)
            for bf16 in (False, True)}
    half = runs[True]
    assert read_attack_file(tmp_path / "True.jsonl")[0]["bf16"] is True
    attacked = [r for r in half if r["status"] != "skipped"]
    assert sum(r["status"] == "succeeded" for r in attacked) >= 0.9 * len(attacked)
    assert sum(a["changes"] == b["changes"] for a, b in zip(runs[False], half)) >= 0.5 * len(half)
    again = clf.predict_proba([r["adversarial"] for r in half])
    for r, probs in zip(half, again.tolist()):
        assert r["probs_after"] == pytest.approx(probs, abs=1e-4)


@pytest.mark.parametrize("method,dictionary,bf16", [("papernot", "vocab", False), ("papernot", "wordnet", False),
                                                    ("greedy", "vocab", False), ("greedy", "wordnet", False),
                                                    ("papernot", "vocab", True), ("greedy", "vocab", True)])
def test_active_rows_change_no_record(sample, tmp_path, method, dictionary, bf16):
    """Stepping a few texts of a batch at once, finished ones making room for the next, gives the records of
    stepping the whole batch together: on a mixed batch (short texts, long ones, texts that finish at once, or
    run out of candidates), with the whole vocabulary and with synonym lists, in float32 and under bf16 (where
    a pass that takes in new texts runs them apart, in float32)."""
    clf, texts, labels = sample
    mixed = [t if i % 4 else " ".join(texts[i : i + 5]) for i, t in enumerate(texts[:40])]
    runs = [run_attack(clf, mixed, labels[:40], tmp_path / f"{rows}.jsonl", method, dictionary, active_rows=rows,
                       bf16=bf16, max_change=0.3) for rows in (None, 7)]
    # the probabilities before come from passes over other rows: the same to float32's last bits, not in them
    before = [[p for r in run for p in r.pop("probs_before")] for run in runs]
    assert comparable(runs[0]) == comparable(runs[1])
    assert before[0] == pytest.approx(before[1], abs=2e-6)
    statuses = {r["status"] for r in runs[0]}
    assert "succeeded" in statuses and len(statuses) > 1  # rows end at different steps, for different reasons


def passes_and_reads(sample, monkeypatch, settings: AttackSettings) -> tuple[int, DeviceReads]:
    """Attack 20 texts in one batch: the passes made, and what was read back from the device on the way (the
    batch's outcomes, read once at its end, left out)."""
    clf, texts, labels = sample
    rows = [r[: clf.max_len] for r in clf.token_ids(texts[:20])]
    attack = SequenceAttack(clf.model, Misclassification(), build_dictionary("vocab", clf.vocab), settings)
    passes, real_pass = [], attack._pass
    monkeypatch.setattr(attack, "_pass", lambda *a: passes.append(1) or real_pass(*a))
    monkeypatch.setattr(attack, "_outcomes", lambda *a: [])
    with DeviceReads() as reads:
        attack.run(rows, labels[:20], list(range(20)))
    return len(passes), reads


@pytest.mark.parametrize("search", ["numba", "blocked"])
@pytest.mark.parametrize("bf16,active_rows", [(False, None), (False, 5), (True, None), (True, 5)])
def test_a_papernot_pass_reads_one_mask_back_from_the_device(sample, monkeypatch, bf16, active_rows, search):
    """Each pass of papernot's attack reads back one thing, which rows go on: no mask indexing, no tensor read
    as a number (on a GPU each would wait for the queued work). Counted on the CPU, the same code path."""
    settings = AttackSettings(method="papernot", bf16=bf16, active_rows=active_rows, sign_search=search)
    passes, reads = passes_and_reads(sample, monkeypatch, settings)
    assert passes > 3
    assert reads.ops == 0, reads.sites
    # one read per pass (which rows go on) and one per batch (which rows the goal applies to)
    assert len(reads.reads) == passes + 1, reads.sites


@pytest.mark.parametrize("active_rows", [None, 5])
def test_a_greedy_pass_reads_back_at_most_four_times(sample, monkeypatch, active_rows):
    """Greedy's pass reads back which rows go on, which candidates are real (``valid.nonzero``), its suffix groups'
    lengths, and which rows its verified step brought to the goal: four at most, with the whole vocabulary."""
    passes, reads = passes_and_reads(sample, monkeypatch, AttackSettings(method="greedy", active_rows=active_rows))
    assert passes > 1
    assert reads.ops + len(reads.reads) <= 4 * passes + 1, reads.sites


def test_active_rows_under_bf16_classify_each_new_text_in_float32(sample, tmp_path):
    """Texts that join the active rows mid-batch are classified as given in float32 under bf16, as the first
    pass of the whole batch is: their probabilities before equal float32's."""
    clf, texts, labels = sample
    plain = run_attack(clf, texts[:30], labels[:30], tmp_path / "plain.jsonl")
    half = run_attack(clf, texts[:30], labels[:30], tmp_path / "half.jsonl", bf16=True, active_rows=4)
    for a, b in zip(plain, half):
        assert a["probs_before"] == pytest.approx(b["probs_before"], abs=2e-6)
    assert sum(a["changes"] == b["changes"] for a, b in zip(plain, half)) >= 0.5 * len(half)


def test_hidden_states_kept_for_greedy_are_float32_under_bf16(sample):
    """Greedy reruns each candidate's suffix from the hidden states of the pass before. Under bf16 a pass that takes
    in new texts runs them in float32 and the others in bf16; kept in each pass's precision, a row's next step
    would depend on which rows shared its pass (the records on --active-rows)."""
    clf, texts, labels = sample
    attack = SequenceAttack(clf.model, Misclassification(), build_dictionary("vocab", clf.vocab),
                            AttackSettings(method="greedy", bf16=True))
    ids = torch.tensor([clf.token_ids(texts[:1])[0]])
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        _, _, hidden, _ = attack._log_probs_and_grad(ids, torch.tensor(labels[:1]))
    assert hidden.dtype == torch.float32


def test_bf16_greedy_on_an_lstm_that_pools_its_last_state(rotten, tmp_path):
    """Greedy's suffix reruns write each group's pooled state into one buffer: under bf16 the groups' dtypes
    differ from the first pass's, and the buffer once refused them."""
    from advtext.text.classifier import TextClassifier
    from advtext.text.models import ModelConfig, build_model
    from advtext.text.tokenizer import Vocabulary

    texts, labels = rotten["test"]["text"][:20], rotten["test"]["label"][:20]
    vocab = Vocabulary.build(texts, max_size=2000, max_len=40)
    torch.manual_seed(0)
    clf = TextClassifier(build_model(ModelConfig(vocab_size=len(vocab), embed_dim=16, hidden_size=16,
                                                 pooling="last")), vocab, 40)
    records = run_attack(clf, texts, labels, tmp_path / "last.jsonl", "greedy", bf16=True)
    assert len(records) == 20 and any(r["changes"] for r in records)


def test_greedy_step_with_rows_that_have_no_candidate_left(sample):
    """More than one verification group (256 candidates) with short rows whose positions are all closed:
    their empty candidate slots once reached the LSTM as positions past the row's end and crashed it."""
    from advtext.text.classifier import pad_ids

    clf, texts, labels = sample
    d = build_dictionary("wordnet", clf.vocab, protect_stopwords=True)
    attack = SequenceAttack(clf.model, Misclassification(), d, AttackSettings(method="greedy"))
    short, long = clf.vocab.encode(words(texts[0])[:3]), clf.vocab.encode(words(" ".join(texts[:4]))[:40])
    ids = pad_ids([short, long] * 30)
    y = torch.tensor([labels[0], labels[0]] * 30)
    with torch.no_grad():
        _, grad, hidden, _ = attack._log_probs_and_grad(ids, y)
        open_positions = attack.changeable(ids)
        open_positions[0::2] = False
        tried, sub, extra, checked = attack._greedy_step(ids, grad, open_positions, y, hidden)
    assert (sub[0::2] == -1).all() and (extra[0::2] == 0).all()
    assert (sub[1::2] >= 0).all() and (extra[1::2] > 0).all()
    # the substitutes of the long rows are what a one-row call chooses
    with torch.no_grad():
        _, single, _, _ = attack._greedy_step(ids[1:2], grad[1:2], open_positions[1:2], y[1:2], hidden[1:2])
    assert int(sub[1]) == int(single[0])


def test_interrupted_then_resumed_equals_uninterrupted(sample, tmp_path):
    """In double precision: the resumed batches hold other rows, and in float32 a near-zero gradient
    component may change sign with the batch's shape."""
    clf, texts, labels = sample
    clf.model.double()
    try:
        whole = run_attack(clf, texts[:30], labels[:30], tmp_path / "w.jsonl", batch_size=10)
        part = tmp_path / "p.jsonl"
        run_attack(clf, texts[:30], labels[:30], part, batch_size=10)
        lines = part.read_text().splitlines(keepends=True)
        part.write_text("".join(lines[:12]) + lines[12][:40])  # killed mid-write after 11 records
        resumed = run_attack(clf, texts[:30], labels[:30], part, batch_size=10)
    finally:
        clf.model.float()
    by_id = lambda rs: sorted(comparable(rs), key=lambda r: r["id"])  # noqa: E731
    assert len(resumed) == 30 and by_id(resumed) == by_id(whole)
    assert len(read_attack_file(part)[1]) == 30


def test_resuming_into_another_configuration_is_refused(sample, tmp_path):
    from advtext.errors import AdvtextError

    clf, texts, labels = sample
    out = tmp_path / "a.jsonl"
    run_attack(clf, texts[:5], labels[:5], out)
    with pytest.raises(AdvtextError, match="different configuration"):
        run_attack(clf, texts[:5], labels[:5], out, method="greedy")
    assert json.loads(out.read_text().splitlines()[0])["advtext_attack"]["method"] == "papernot"


@pytest.mark.parametrize("text,replace", [
    ("wow!!", {1: "great", 2: "fine"}),
    ("...", {0: "a", 1: "b", 2: "c"}),
    ("the films' plot", {2: "awful"}),
    ("don't stop,now", {1: "go", 2: "so"}),
    ("Great film", {0: "bad"}),
])
def test_rewritten_text_tokenises_into_exactly_the_intended_words(text, replace):
    from advtext.text.tokenizer import Vocabulary, tokenize

    tokens = tokenize(text)
    vocab = Vocabulary(["<pad>", "<unk>"] + sorted({t.text for t in tokens} | set(replace.values())))
    new_ids = [vocab.stoi[replace.get(i, t.text)] for i, t in enumerate(tokens)]
    adv, changes = adversarial_text(text, tokens, new_ids, sorted(replace), vocab)
    assert words(adv) == [replace.get(i, t.text) for i, t in enumerate(tokens)]
    assert [c["old"] for c in changes] == [tokens[i].text for i in sorted(replace)]
    if text == "Great film":
        assert adv == "bad film"  # no space added where none is needed


@pytest.mark.parametrize("goal_spec", ["targeted:0", "source-target:1:0", "confidence:0.6"])
def test_other_goals_through_the_attack(sample, tmp_path, goal_spec):
    from advtext.goals import parse_goal

    clf, texts, labels = sample
    goal = parse_goal(goal_spec, 2)
    records = run_attack(clf, texts[:40], labels[:40], tmp_path / "g.jsonl", goal=goal)
    pred = clf.predict_proba(texts[:40]).argmax(1).tolist()
    for r in records:
        assert r["pred_before"] == pred[r["id"]] and abs(sum(r["probs_before"]) - 1) < 1e-4
        if goal_spec == "source-target:1:0" and r["label"] != 1:
            assert r["status"] == "skipped" and r["reason"].startswith("the goal does not apply to this label")
        if goal_spec == "targeted:0" and r["label"] == 0:  # never "repaired" back to its own class
            assert r["status"] == "skipped" and r["reason"].startswith("the true label already is the target")
        if r["status"] == "succeeded":
            if goal_spec == "confidence:0.6":
                assert r["probs_after"][r["label"]] < 0.6
            else:
                assert r["pred_after"] == 0
    assert any(r["status"] == "succeeded" for r in records)


@pytest.mark.parametrize("dictionary", ["vocab", "wordnet", "glove:0.5", "glove-safe:0.5"])
def test_protected_punctuation_never_changes_nor_enters(sample, dictionary):
    """Under --protect-punctuation no dictionary offers a punctuation mark or a bare number, and no punctuation
    mark is changed; without it the whole vocabulary offers both."""
    from advtext.text.tokenizer import is_number, is_punctuation

    clf = sample[0]
    punct = torch.tensor([is_punctuation(w) and w not in ("<pad>", "<unk>") for w in clf.vocab.itos])
    numbers = torch.tensor([is_number(w) for w in clf.vocab.itos])
    assert punct.any() and numbers.any()  # the vocabulary has both, so the check below can fail
    d = build_dictionary(dictionary, clf.vocab, protect_punctuation=True)
    assert not d.allowed[punct | numbers].any() and d.protected[punct].all()
    if d.candidates is not None:
        offered = d.candidates[d.candidates >= 0]
        assert offered.numel() and not (punct | numbers)[offered].any()
    if dictionary == "vocab":
        assert build_dictionary(dictionary, clf.vocab).allowed[punct | numbers].all()


def test_greedy_protects_punctuation_by_default_and_papernot_does_not(sample, tmp_path):
    from advtext.api import attack, attack_settings
    from advtext.text.quality import change_figures

    settings = dict(dictionary="vocab", max_change=None, min_words=0, protect_stopwords=False, pos=False,
                    polarity_guard=False, min_similarity=None, measure_similarity=False)
    assert attack_settings(method="greedy", **settings)[1]["protect_punctuation"] is True
    assert attack_settings(method="papernot", **settings)[1]["protect_punctuation"] is False
    assert attack_settings(method="papernot", protect_punctuation=True, **settings)[1]["protect_punctuation"]
    clf, texts, labels = sample
    records = attack(clf, texts, labels, method="greedy", dictionary="vocab")
    changes = [c for r in records for c in r["changes"]]
    assert changes
    figures = change_figures(changes)
    assert figures["punctuation_changes"] == 0 and figures["number_changes"] == 0
