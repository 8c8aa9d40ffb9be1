"""What the attack tests left unchecked: papernot's random positions, the candidate-list sign search,
--pos and glove:T in the records, the failure and skip reasons, and the attack on other architectures."""

import copy
import math
from dataclasses import dataclass

import numpy as np
import pytest
import torch
from cli_helpers import comparable

from advtext.goals import Misclassification, SourceTargetMisclassification, TargetedMisclassification
from advtext.text.attack import AttackSettings, SequenceAttack, row_priorities, word_budget
from advtext.text.classifier import TextClassifier, pad_ids
from advtext.text.dictionary import build_dictionary, stopword_mask, wordnet, wordnet_pos
from advtext.text.models import ModelConfig, build_model
from advtext.text.run_attack import attack_texts
from advtext.text.sign_search import sign_match_candidates
from advtext.text.tokenizer import words
from advtext.text.train import fit_text
from advtext.training import TrainSettings

NO_WORD_LEFT, BUDGET_SPENT = "no word left that may be changed", "word budget spent"


@dataclass(frozen=True)
class Never(Misclassification):
    """Untargeted gradient, but never reached: the attack runs until budget or candidates run out."""

    def done(self, probs, labels):
        return torch.zeros(len(labels), dtype=torch.bool, device=labels.device)


@pytest.fixture(scope="module")
def sample(small_clf, rotten):
    _, clf = small_clf
    return clf, rotten["test"]["text"][:60], rotten["test"]["label"][:60]


@pytest.fixture(scope="module")
def long_sample(sample):
    """Snippets of 10 to 40 tokens: a 10% word budget is at least one word."""
    clf, texts, labels = sample
    keep = [i for i, t in enumerate(texts) if 10 <= len(words(t)) <= 40]
    assert len(keep) >= 30
    return clf, [texts[i] for i in keep], [labels[i] for i in keep]


@pytest.fixture(scope="module")
def dictionaries(sample):
    """Dictionaries of the small vocabulary, each built once."""
    built = {}

    def get(spec, pos=False):
        if (spec, pos) not in built:
            built[spec, pos] = build_dictionary(spec, sample[0].vocab, pos_agreement=pos)
        return built[spec, pos]

    return get


@pytest.fixture(scope="module")
def wordnet_protected(sample):
    return build_dictionary("wordnet", sample[0].vocab, protect_stopwords=True)


def attack(clf, texts, labels, out, dictionary, goal=None, keys=None, batch_size=64, **settings):
    keys = list(range(len(texts))) if keys is None else keys
    config = {"dictionary": dictionary.name, **settings}
    return attack_texts(clf, texts, labels, keys, goal or Misclassification(), dictionary,
                        AttackSettings(**settings), out, config, batch_size)


def encode(clf, texts):
    return [clf.vocab.encode(words(t)[: clf.max_len]) for t in texts]


def open_positions(clf, dictionary, row):
    """Positions a dictionary lets the attack change, computed from the dictionary's lists directly."""
    return [p for p, w in enumerate(row)
            if w != 0 and not dictionary.protected[w] and (dictionary.candidates[w] >= 0).any()]


# ---- 1. papernot's random position choice ---------------------------------------------------------------

def test_row_priorities_are_seeded_per_sentence_and_independent_of_the_batch():
    """Same seed and key: same priorities whatever the batch; padding -1; another seed or key: another order."""
    alone = row_priorities([9], [42], seed=3, width=9)[0]
    batch = row_priorities([5, 9, 3], [11, 42, 7], seed=3, width=12)
    other_batch = row_priorities([3, 9], [7, 42], seed=3, width=20)
    assert torch.equal(batch[1, :9], alone) and torch.equal(other_batch[1, :9], alone)
    assert torch.equal(batch[2, :3], other_batch[0, :3])
    assert (batch[0, 5:] == -1).all() and (batch[2, 3:] == -1).all() and (other_batch[1, 9:] == -1).all()
    assert ((batch[0, :5] >= 0) & (batch[0, :5] < 1)).all()
    assert not torch.equal(row_priorities([9], [42], seed=4, width=9)[0].argsort(), alone.argsort())
    assert not torch.equal(row_priorities([9], [43], seed=3, width=9)[0].argsort(), alone.argsort())


def test_papernot_step_takes_the_highest_priority_open_position(sample, wordnet_protected):
    """Closed positions are never picked, even when they carry the highest priority."""
    clf, texts, labels = sample
    attack_ = SequenceAttack(clf.model, Misclassification(), wordnet_protected, AttackSettings())
    ids = pad_ids(encode(clf, texts[:12]))
    y = torch.tensor(labels[:12])
    with torch.no_grad():
        grad = attack_._log_probs_and_grad(ids, y)[1]
    g = torch.Generator().manual_seed(0)
    only = int(attack_.changeable(ids)[1].int().argmax())
    for _ in range(5):
        avail = attack_.changeable(ids) & (torch.rand(ids.shape, generator=g) < 0.5)
        avail[0] = False  # a row with nothing open (the attack stops such rows before stepping)
        avail[1] = False
        avail[1, only] = True  # one open position only, holding the lowest priority of its row
        priority = row_priorities([int(n) for n in (ids != 0).sum(1)], list(range(12)), 5, ids.shape[1])
        priority[1, only] = 0.0
        tried, sub, extra, checked = attack_._papernot_step(ids, grad, avail, priority)
        assert tried.shape == (12, 1) and extra == 0 and checked is None
        assert int(tried[1, 0]) == only and int(sub[1]) >= 0
        for r in range(1, 12):
            if avail[r].any():
                p = int(tried[r, 0])
                assert avail[r, p] and priority[r, p] == priority[r][avail[r]].max()
                assert int(sub[r]) in wordnet_protected.candidates[ids[r, p]].tolist()


@pytest.mark.parametrize("max_change", [None, 0.15])
def test_papernot_changes_exactly_the_first_open_positions_by_priority(long_sample, wordnet_protected,
                                                                      max_change):
    """A goal never reached: the changed positions are the open ones in priority order, each once."""
    clf, texts, labels = long_sample
    texts, labels, keys = texts[:20], labels[:20], [1000 + 7 * i for i in range(20)]
    attack_ = SequenceAttack(clf.model, Never(), wordnet_protected, AttackSettings(max_change=max_change, seed=11))
    rows = encode(clf, texts)
    outcomes = attack_.run(rows, labels, keys)
    stop = stopword_mask(clf.vocab)
    assert any(o.changed for o in outcomes)
    for row, key, o in zip(rows, keys, outcomes):
        opened = open_positions(clf, wordnet_protected, row)
        assert all(not stop[row[p]] and row[p] != 1 for p in opened)
        priority = row_priorities([len(row)], [key], 11, len(row))[0]
        order = sorted(opened, key=lambda p: -priority[p])
        budget = int(word_budget(torch.tensor([len(row)]), max_change)[0])
        k = min(budget, len(order))
        assert sorted(o.changed) == sorted(order[:k])
        assert o.forwards == k + 1  # one step per changed word: no position tried twice
        assert all(o.ids[p] in wordnet_protected.candidates[row[p]].tolist() for p in o.changed)
        assert o.reason == (BUDGET_SPENT if budget <= len(order) else NO_WORD_LEFT)


def test_papernot_positions_follow_the_sentence_key_not_the_batch(long_sample, wordnet_protected):
    """The same sentence and key alone or amid others: same positions; another seed: another order."""
    clf, texts, labels = long_sample
    rows = encode(clf, texts[:10])

    def changed(batch, keys, seed):
        a = SequenceAttack(clf.model, Never(), wordnet_protected, AttackSettings(max_change=0.2, seed=seed))
        return [o.changed for o in a.run([rows[i] for i in batch], [labels[i] for i in batch], keys)]

    batch = changed(list(range(10)), list(range(10)), seed=1)
    reversed_batch = changed(list(range(9, -1, -1)), list(range(9, -1, -1)), seed=1)[::-1]
    alone = [changed([i], [i], seed=1)[0] for i in range(10)]
    assert batch == reversed_batch == alone
    other_seed = changed(list(range(10)), list(range(10)), seed=2)
    other_keys = changed(list(range(10)), list(range(100, 110)), seed=1)
    assert sum(map(len, batch)) >= 10
    assert sum(a != b for a, b in zip(batch, other_seed)) >= 3
    assert sum(a != b for a, b in zip(batch, other_keys)) >= 3


# ---- 2. the candidate-list sign search --------------------------------------------------------------------

def brute_force_candidates(table, current, signs, candidates):
    """(best id, distance) per row by the paper's rule over the row's list; ties to the lowest id; -1/inf if empty."""
    out = []
    for j in range(len(current)):
        x = table[current[j]]
        options = [(float(sum(abs(float(np.sign(float(table[z, k] - x[k]))) - float(signs[j, k]))
                              for k in range(table.shape[1]))), int(z))
                   for z in candidates[j].tolist() if z >= 0]
        out.append(min(options) if options else (math.inf, -1))
    return out


def random_lists(g, n, vocab_size, width, current, sort):
    cands = torch.full((n, width), -1, dtype=torch.long)
    for j in range(n):
        count = 0 if j == 0 else int(torch.randint(1, width + 1, (1,), generator=g))
        pool = [z for z in torch.randperm(vocab_size, generator=g).tolist() if z != int(current[j]) and z >= 2]
        picked = pool[:count]
        cands[j, :count] = torch.tensor(sorted(picked) if sort else picked, dtype=torch.long)
    return cands


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_candidate_sign_search_equals_brute_force(seed):
    """Small-integer embeddings (equal components, ties), zero signs, -1 padding and an empty list."""
    g = torch.Generator().manual_seed(seed)
    table = torch.randint(-2, 3, (40, 5), generator=g).float()
    table[7] = table[9]
    current = torch.randint(2, 40, (30,), generator=g)
    signs = torch.randint(-1, 2, (30, 5), generator=g).float()
    candidates = random_lists(g, 30, 40, 8, current, sort=True)  # WordNet's lists are sorted by id
    candidates[1, :2] = torch.tensor([7, 9])  # identical rows: the lower id wins
    candidates[1, 2:] = -1
    best, dist = sign_match_candidates(table, current, signs, candidates)
    expected = brute_force_candidates(table, current, signs, candidates)
    assert [(float(d), int(b)) for d, b in zip(dist, best)] == expected
    assert int(best[0]) == -1 and math.isinf(dist[0]) and int(best[1]) == 7


def test_candidate_sign_search_ties_go_to_the_lowest_id_in_unsorted_lists():
    """GloVe neighbour lists are ordered by similarity, not id: the documented tie rule must still hold."""
    g = torch.Generator().manual_seed(3)
    table = torch.randint(-1, 2, (40, 4), generator=g).float()
    current = torch.randint(2, 40, (40,), generator=g)
    signs = torch.randint(-1, 2, (40, 4), generator=g).float()
    candidates = random_lists(g, 40, 40, 10, current, sort=False)
    best, dist = sign_match_candidates(table, current, signs, candidates)
    assert [(float(d), int(b)) for d, b in zip(dist, best)] == brute_force_candidates(table, current, signs,
                                                                                      candidates)


def test_sign_substitutes_with_a_wordnet_dictionary_equal_brute_force(sample, wordnet_protected):
    """The real model's gradient and table: the substitute minimises the distance over the word's own list."""
    clf, texts, labels = sample
    d = wordnet_protected
    attack_ = SequenceAttack(clf.model, Misclassification(), d, AttackSettings())
    ids = pad_ids(encode(clf, texts[:30]))
    with torch.no_grad():
        grad = attack_._log_probs_and_grad(ids, torch.tensor(labels[:30]))[1]
    has = d.has_candidates(ids) & (ids != 0)
    closed = (ids != 0) & ~has
    # even rows: their first word with a list; odd rows: a real word without one where there is such a word
    pos = torch.stack([(has[r] if r % 2 == 0 or not closed[r].any() else closed[r]).int().argmax()
                       for r in range(30)])
    sub = attack_.sign_substitutes(ids, grad, pos)
    rows = torch.arange(30)
    current = ids[rows, pos]
    table = clf.model.embedding.weight.detach()
    expected = brute_force_candidates(table, current, torch.sign(grad[rows, pos]), d.candidates[current])
    assert sub.tolist() == [b for _, b in expected]
    assert (sub[has[rows, pos]] >= 0).all() and (sub[~has[rows, pos]] == -1).all()
    assert (~has[rows, pos]).sum() >= 3 and has[rows, pos].sum() >= 15


# ---- 3. --pos and glove:T in the records ----------------------------------------------------------------

def pos_classes(word):
    """The WordNet parts of speech of a word ('s' counted as 'a'); empty for words WordNet does not know."""
    if not word.isalpha():
        return set()
    return {"a" if s.pos() == "s" else s.pos() for s in wordnet().synsets(word)}


def glove_cosine(a, b):
    from advtext.text.embeddings import load_glove

    index, vectors = load_glove()
    if a not in index or b not in index:
        return -math.inf
    u, v = np.asarray(vectors[index[a]], np.float64), np.asarray(vectors[index[b]], np.float64)
    return float(u @ v / np.linalg.norm(u) / np.linalg.norm(v))


@pytest.mark.parametrize("spec,pos", [("glove:0.7", False), ("glove:0.6", True), ("wordnet", True)])
@pytest.mark.parametrize("method", ["papernot", "greedy"])
def test_every_change_respects_pos_and_the_glove_threshold(sample, dictionaries, tmp_path, spec, pos, method):
    """Each recorded change: a listed substitute, within the cosine threshold, sharing a part of speech."""
    clf, texts, labels = sample
    d = dictionaries(spec, pos)
    records = attack(clf, texts[:40], labels[:40], tmp_path / "a.jsonl", d, method=method, max_change=0.3)
    changes = [c for r in records for c in r["changes"]]
    assert len(changes) >= 15
    for c in changes:
        old, new = clf.vocab.stoi[c["old"]], clf.vocab.stoi[c["new"]]
        assert new in d.candidates[old].tolist()
        if spec.startswith("glove"):
            assert glove_cosine(c["old"], c["new"]) >= float(spec.split(":")[1]) - 1e-5, c
        if pos:
            assert pos_classes(c["old"]) & pos_classes(c["new"]) or pos_classes(c["old"]) == pos_classes(c["new"]), c


def test_pos_agreement_removes_exactly_the_glove_neighbours_of_another_part_of_speech(sample, dictionaries):
    """glove:0.6 with --pos keeps the neighbours sharing a part of speech and drops all others."""
    vocab = sample[0].vocab
    plain, agreed = dictionaries("glove:0.6"), dictionaries("glove:0.6", True)
    bits = wordnet_pos(vocab)
    dropped = kept = 0
    for w in range(2, 3000):
        before = [z for z in plain.candidates[w].tolist() if z >= 0]
        after = [z for z in agreed.candidates[w].tolist() if z >= 0]
        agree = [z for z in before if bits[z] & bits[w] or bits[z] == bits[w]]
        assert after == agree
        dropped, kept = dropped + len(before) - len(after), kept + len(after)
    assert dropped > 100 and kept > 100
    for w in ("good", "film", "quickly", "run"):
        i = vocab.stoi[w]  # all in the small vocabulary
        for z in agreed.candidates[i].tolist():
            if z >= 0:
                assert pos_classes(w) & pos_classes(vocab.itos[z]), (w, vocab.itos[z])


def test_pos_flag_through_the_cli(small_clf, sample, tmp_path, capsys, monkeypatch):
    """`attack --pos --dictionary glove:0.6`: the header says pos, every change agrees; --pos with vocab refused."""
    import json

    from cli_helpers import run_cli

    run, clf = small_clf
    f = tmp_path / "t.txt"
    f.write_text("\n".join(sample[1][:25]) + "\n")
    out = tmp_path / "a.jsonl"
    code, _, err = run_cli(["attack", run, "--input", f, "--dictionary", "glove:0.6", "--pos", "--max-change", "0.3",
                            "--out", out], capsys, monkeypatch)
    assert code == 0, err
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert lines[0]["advtext_attack"]["pos"] is True and lines[0]["advtext_attack"]["dictionary"] == "glove:0.6"
    changes = [c for r in lines[1:] for c in r["changes"]]
    assert len(changes) >= 10
    for c in changes:
        assert pos_classes(c["old"]) & pos_classes(c["new"]) or pos_classes(c["old"]) == pos_classes(c["new"]), c
        assert glove_cosine(c["old"], c["new"]) >= 0.6 - 1e-5
    code, _, err = run_cli(["attack", run, "--input", f, "--pos", "--out", tmp_path / "b.jsonl"], capsys, monkeypatch)
    assert code == 2 and "--pos needs a synonym dictionary" in err


# ---- 4. failure and skip reasons ------------------------------------------------------------------------

@pytest.mark.parametrize("method", ["papernot", "greedy"])
@pytest.mark.parametrize("max_change", [None, 0.1])
def test_failure_reasons_name_what_stopped_the_attack(long_sample, wordnet_protected, tmp_path, method,
                                                      max_change):
    """A goal never reached: 'word budget spent' when the budget ran out first, else 'no word left ...'."""
    clf, texts, labels = long_sample
    # no word that may change at all (ten tokens: the budget is not what stops them)
    texts = [*texts[:20], "the and of it is the and of it is", "qwxz is the qwxz is the qwxz is the it"]
    labels = [*labels[:20], 0, 1]
    records = attack(clf, texts, labels, tmp_path / "f.jsonl", wordnet_protected, goal=Never(), method=method,
                     max_change=max_change)
    reasons = {r["reason"] for r in records}
    assert {r["status"] for r in records} == {"failed"}
    assert NO_WORD_LEFT in reasons and (max_change is None or BUDGET_SPENT in reasons)
    for r, row in zip(sorted(records, key=lambda r: r["id"]), encode(clf, texts)):
        n_open = len(open_positions(clf, wordnet_protected, row))
        budget = int(word_budget(torch.tensor([r["length"]]), max_change)[0])
        assert r["words_changed"] == min(budget, n_open)  # every open position tried gets a substitute
        assert r["reason"] == (BUDGET_SPENT if r["words_changed"] >= budget else NO_WORD_LEFT), r
        if n_open == 0:
            assert r["reason"] == NO_WORD_LEFT and r["changes"] == [] and r["adversarial"] == r["original"]


def test_failure_reasons_under_a_real_goal(long_sample, wordnet_protected, tmp_path):
    """Untargeted, 10% of the words: a failure spent its whole budget, or ran out of words before."""
    clf, texts, labels = long_sample
    records = attack(clf, texts, labels, tmp_path / "f.jsonl", wordnet_protected, max_change=0.1)
    failed = [r for r in records if r["status"] == "failed"]
    assert len(failed) >= 5
    for r in failed:
        budget = int(word_budget(torch.tensor([r["length"]]), 0.1)[0])
        assert budget >= 1
        assert (r["reason"] == BUDGET_SPENT and r["words_changed"] == budget
                or r["reason"] == NO_WORD_LEFT and r["words_changed"] < budget), r
        assert r["pred_after"] == r["label"]


def test_skip_reasons(sample, wordnet_protected, tmp_path):
    """Goal met before, no known word, target already the label, label not the source: each says so."""
    clf, texts, labels = sample
    texts = list(texts[:16])
    pred = clf.predict_proba(texts).argmax(1).tolist()
    flipped = [1 - p if i % 2 else p for i, p in enumerate(pred)]  # odd rows: the model is already wrong
    texts, flipped = texts + ["qwxz zzqy"], flipped + [0]
    records = {r["id"]: r for r in attack(clf, texts, flipped, tmp_path / "u.jsonl", wordnet_protected)}
    for i, r in records.items():
        if i == 16:
            assert r["status"] == "skipped" and r["reason"] == "no in-vocabulary word"
        elif i % 2:
            assert r["status"] == "skipped" and r["reason"] == "the goal already holds before the attack"
            assert r["pred_before"] != r["label"]
        else:
            assert r["status"] != "skipped"
    targeted = {r["id"]: r for r in attack(clf, texts[:16], [i % 2 for i in range(16)], tmp_path / "t.jsonl",
                                           wordnet_protected, goal=TargetedMisclassification(0))}
    source = {r["id"]: r for r in attack(clf, texts[:16], [i % 2 for i in range(16)], tmp_path / "s.jsonl",
                                         wordnet_protected, goal=SourceTargetMisclassification(target_class=0,
                                                                                               source=1))}
    for i in range(0, 16, 2):
        assert targeted[i]["status"] == "skipped" and targeted[i]["reason"] == (
            "the true label already is the target class (no attack: reaching it would be a repair)")
        assert source[i]["status"] == "skipped" and source[i]["reason"] == (
            "the goal does not apply to this label (not the source class)")
    for i in range(1, 16, 2):
        assert targeted[i]["status"] != "skipped" or targeted[i]["reason"] == "the goal already holds before the attack"
        assert not source[i]["reason"].startswith("the goal does not apply")
    every = [*records.values(), *targeted.values(), *source.values()]
    for r in every:
        if r["status"] == "skipped":
            assert r["changes"] == [] and r["words_changed"] == 0 and r["adversarial"] == r["original"]
            assert r["pred_after"] == r["pred_before"]  # the same text classified again (another batch: 1e-6)
            assert r["probs_after"] == pytest.approx(r["probs_before"], abs=1e-5)
        elif r["status"] == "succeeded":
            assert r["reason"] == ""
    assert sum(r["status"] == "skipped" for r in every) >= 8 + 8 + 8 + 1


# ---- 5. other architectures -----------------------------------------------------------------------------

ARCHITECTURES = {
    "cnn": dict(architecture="cnn", num_filters=32, kernel_sizes=[2, 3]),
    "bilstm": dict(bidirectional=True),
    "lstm2": dict(num_layers=2),  # greedy checks substitutions by full forward passes
    "bilstm-last": dict(bidirectional=True, pooling="last"),
}


@pytest.fixture(scope="module")
def other_models(small_clf, rotten):
    """Each architecture trained 2 epochs on 4,000 snippets with the shared small vocabulary (about 1 s each)."""
    _, base = small_clf
    train, val = rotten["train"], rotten["validation"].select(range(300))
    models = {}
    for name, kw in ARCHITECTURES.items():
        torch.manual_seed(0)
        cfg = ModelConfig(vocab_size=len(base.vocab), embed_dim=32, hidden_size=32, **kw)
        clf = TextClassifier(build_model(cfg), base.vocab, 40)
        fit_text(clf, train["text"][:4000], train["label"][:4000], val["text"], val["label"],
                 TrainSettings(epochs=2, seed=0), log=lambda m: None)
        models[name] = clf
    return models


def double(clf):
    return TextClassifier(copy.deepcopy(clf.model).double(), clf.vocab, clf.max_len)


def test_lstm_logits_do_not_depend_on_right_padding(other_models):
    """A text's logits must not change with the padding its batch adds."""
    for name in ("bilstm", "lstm2", "bilstm-last"):
        model = double(other_models[name]).model
        ids = torch.tensor([[5, 17, 23]])
        padded = torch.cat([ids, torch.zeros(1, 30, dtype=torch.long)], 1)
        assert torch.allclose(model(ids), model(padded), atol=1e-12), name


def test_cnn_logits_are_independent_of_padding(other_models):
    """The word CNN classifies a text the same alone and padded to a longer batch."""
    model = double(other_models["cnn"]).model
    ids = torch.tensor([[5, 17, 23]])
    padded = torch.cat([ids, torch.zeros(1, 30, dtype=torch.long)], 1)
    assert torch.allclose(model(ids), model(padded), atol=1e-12)


def run_both_ways(clf, texts, labels, tmp_path, method):
    d = build_dictionary("vocab", clf.vocab)
    batched = attack(clf, texts, labels, tmp_path / f"{method}-b.jsonl", d, method=method, batch_size=len(texts))
    single = attack(clf, texts, labels, tmp_path / f"{method}-s.jsonl", d, method=method, batch_size=1)
    return comparable(batched), comparable(single)


def check_successes_are_real(clf, records):
    succeeded = [r for r in records if r["status"] == "succeeded"]
    assert len(succeeded) >= 0.8 * sum(r["status"] != "skipped" for r in records)
    assert not [r for r in records if "rewritten text" in r["reason"]]
    for r in succeeded:  # each one alone, from its text
        probs = clf.predict_proba([r["adversarial"]])[0]
        assert int(probs.argmax()) != r["label"] and int(probs.argmax()) == r["pred_after"]
        before, after = words(r["original"])[: clf.max_len], words(r["adversarial"])[: clf.max_len]
        assert sum(a != b for a, b in zip(before, after)) == r["words_changed"] > 0


def mixed_lengths(texts):
    """Single snippets and runs of three, so that a batch holds rows of many lengths."""
    return [t if i % 3 else " ".join(texts[i : i + 3]) for i, t in enumerate(texts[:15])]


def same_length(texts, n=12):
    """Texts cut after their n-th token: a batch of them needs no padding."""
    from advtext.text.tokenizer import tokenize

    return [t[: tokenize(t)[n - 1].end] for t in texts if len(tokenize(t)) >= n][:15]


@pytest.mark.parametrize("method", ["papernot", "greedy"])
@pytest.mark.parametrize("name", ["bilstm", "lstm2", "bilstm-last", "cnn"])
def test_other_architectures_batched_equals_single_and_successes_are_real(other_models, sample, tmp_path, name,
                                                                          method):
    """Bidirectional (packed), 2-layer (full-forward checks) LSTMs and the word CNN: batching changes
    nothing and every success holds when its text is classified alone. The CNN also gets texts of one
    length here (mixed lengths: the test below)."""
    _, texts, labels = sample
    chosen = same_length(texts) if name == "cnn" else mixed_lengths(texts)
    assert len(chosen) == 15
    clf = double(other_models[name])
    batched, single = run_both_ways(clf, chosen, labels[:15], tmp_path, method)
    assert batched == single
    assert len({r["length"] for r in batched}) == 1 if name == "cnn" else len({r["length"] for r in batched}) > 5
    check_successes_are_real(clf, batched)


@pytest.mark.parametrize("method", ["papernot", "greedy"])
def test_cnn_batched_equals_single_on_mixed_lengths(other_models, sample, tmp_path, method):
    """The word CNN: attacking texts of mixed lengths together or one at a time gives the same records."""
    _, texts, labels = sample
    batched, single = run_both_ways(double(other_models["cnn"]), mixed_lengths(texts), labels[:15], tmp_path, method)
    assert batched == single
