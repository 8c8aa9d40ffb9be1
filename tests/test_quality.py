"""The polarity guard holds in every record, and the quality figures equal those recomputed from records."""

from __future__ import annotations

import json
from collections import Counter

import pytest
import torch
from cli_helpers import run_cli

from advtext.text.corpora import load_corpus
from advtext.text.dictionary import build_dictionary
from advtext.text.polarity import breaks_polarity, valence, vocabulary_valence
from advtext.text.quality import CorpusWords
from advtext.text.tokenizer import words


@pytest.fixture
def cli(capsys, monkeypatch):
    return lambda *args: run_cli(list(args), capsys, monkeypatch)


def test_polarity_rule_on_lexicon_words():
    assert valence("delightfully") > 0 > valence("insipid") and valence("movie") == 0
    assert breaks_polarity("delightfully", "insipid")  # opposite sentiment
    assert breaks_polarity("movie", "awful")  # strong sentiment where there was none
    assert breaks_polarity("Bad", "GREAT")  # case does not hide a word
    assert not breaks_polarity("good", "great") and not breaks_polarity("bad", "awful")
    assert not breaks_polarity("movie", "film") and not breaks_polarity("movie", "fine")  # "fine" is mild
    assert breaks_polarity("never", "everything") and breaks_polarity("does", "doesn't")  # a negation removed, added


@pytest.mark.parametrize("spec", ["vocab", "wordnet"])
def test_guarded_dictionary_allows_exactly_the_pairs_that_keep_polarity(small_clf, spec):
    _, clf = small_clf
    vocab = clf.vocab
    d = build_dictionary(spec, vocab, polarity_guard=True)
    plain = build_dictionary(spec, vocab)
    val = vocabulary_valence(vocab)
    words = [w for w in ("good", "bad", "movie", "dull", "funny", "the", "awful", "fine") if w in vocab.stoi]
    for w in words:
        i = vocab.stoi[w]
        if spec == "vocab":
            allowed = d.allowed_by_class[d.word_class[i]]
            expected = plain.allowed & torch.tensor([not breaks_polarity(w, z) for z in vocab.itos])
            assert torch.equal(allowed, expected), w
        else:
            kept = {int(z) for z in d.candidates[i] if z >= 0}
            before = {int(z) for z in plain.candidates[i] if z >= 0}
            assert kept == {z for z in before if not breaks_polarity(w, vocab.itos[z])}, w
    assert bool((val != 0).any())
    assert d.protected[vocab.unk_id]  # an unknown word's polarity cannot be seen: it is never changed
    for negation in ("not", "never", "n't", "don't"):
        if negation in vocab.stoi:  # never changed, never inserted
            assert d.protected[vocab.stoi[negation]] and not d.allowed[vocab.stoi[negation]]


def attack_records(cli, run, tmp_path, name, *extra):
    out = tmp_path / f"{name}.jsonl"
    code, _, err = cli("attack", run, "--corpus", "rotten-tomatoes", "--split", "test", "--n", "40", "--out", out,
                       *extra)
    assert code == 0, err
    return [json.loads(line) for line in out.read_text().splitlines()[1:]]


@pytest.mark.parametrize("method", ["greedy", "papernot"])
def test_polarity_guard_holds_in_every_record(cli, small_clf, tmp_path, method):
    """Unguarded, the whole-vocabulary attack leans on sentiment words; guarded, no change breaks polarity."""
    run, _ = small_clf
    free = attack_records(cli, run, tmp_path, "free", "--method", method)
    guarded = attack_records(cli, run, tmp_path, "guarded", "--method", method, "--polarity-guard")
    breaks = lambda rs: sum(breaks_polarity(c["old"], c["new"]) for r in rs for c in r["changes"])  # noqa: E731
    assert breaks(free) > 0
    assert breaks(guarded) == 0 and all(r["quality"]["polarity_breaks"] == 0 for r in guarded)
    assert sum(r["status"] == "succeeded" for r in guarded) > 0


def test_quality_figures_equal_those_recomputed_from_the_records(cli, small_clf, tmp_path):
    run, _ = small_clf
    out = tmp_path / "a.jsonl"
    code, _, err = cli("attack", run, "--corpus", "rotten-tomatoes", "--split", "test", "--n", "60", "--method",
                       "greedy", "--out", out)
    assert code == 0, err
    records = [json.loads(line) for line in out.read_text().splitlines()[1:]]
    code, stdout, err = cli("stats", out, "--json")
    q = json.loads(stdout)["quality"]
    wins = [r for r in records if r["status"] == "succeeded"]
    changes = [c for r in wins for c in r["changes"]]
    assert wins and changes
    for r in records:  # the per-text figures
        assert r["quality"]["polarity_breaks"] == sum(breaks_polarity(c["old"], c["new"]) for c in r["changes"])
    assert q["texts_with_polarity_break"] == pytest.approx(
        sum(any(breaks_polarity(c["old"], c["new"]) for c in r["changes"]) for r in wins) / len(wins))
    wordless = lambda token: not any(ch.isalnum() for ch in token)  # noqa: E731
    punct = sum(wordless(c["old"]) or wordless(c["new"]) for c in changes)
    assert q["changes_touching_punctuation"] == pytest.approx(punct / len(changes))
    top = Counter(c["new"].lower() for c in changes).most_common(5)
    assert [(t["word"], t["share"]) for t in q["top_substitutes"]] == [(w, n / len(changes)) for w, n in top]
    corpus = load_corpus("rotten-tomatoes")
    used = {w for split in corpus.values() for t in split["text"] for w in words(t)}
    for r in records:
        assert r["quality"]["outside_corpus_changes"] == sum(c["new"].lower() not in used for c in r["changes"])
    outside = sum(c["new"].lower() not in used for c in changes)
    assert q["changes_outside_corpus"] == pytest.approx(outside / len(changes))


def test_sentence_similarity_of_minilm():
    from advtext.text.similarity import sentence_encoder

    enc = sentence_encoder("cpu")
    sims = enc.similarity(["a gripping and moving film", "a gripping and moving film", "a gripping and moving film"],
                          ["a gripping and moving film", "a gripping and touching movie", "the tax forms are due"])
    assert sims[0] == pytest.approx(1.0, abs=1e-5) and sims[1] > 0.7 > 0.3 > sims[2]
    assert torch.allclose(enc.encode(["x y z"]).norm(dim=1), torch.ones(1))


def test_min_similarity_holds_in_every_record(cli, small_clf, tmp_path):
    """Every success keeps the similarity asked; the figures equal those recomputed from the records."""
    run, _ = small_clf
    free = attack_records(cli, run, tmp_path, "free", "--method", "greedy")
    kept = attack_records(cli, run, tmp_path, "kept", "--method", "greedy", "--min-similarity", "0.9")
    wins = [r for r in kept if r["status"] == "succeeded"]
    assert wins and all(r["quality"]["similarity"] >= 0.9 for r in wins)
    assert min(r["quality"]["similarity"] for r in free if r["status"] == "succeeded") < 0.9  # the check did work
    from advtext.text.similarity import sentence_encoder

    again = sentence_encoder("cpu").similarity([r["original"] for r in wins], [r["adversarial"] for r in wins])
    assert torch.allclose(again, torch.tensor([r["quality"]["similarity"] for r in wins]), atol=1e-4)
    code, stdout, err = cli("stats", tmp_path / "kept.jsonl", "--json")
    assert json.loads(stdout)["quality"]["mean_similarity"] == pytest.approx(
        sum(r["quality"]["similarity"] for r in wins) / len(wins))


def test_min_similarity_outside_0_1_is_refused(cli, small_clf, tmp_path):
    from test_bad_input import one_line_error

    run, _ = small_clf
    for bad in ("1.5", "-0.1"):
        one_line_error(*cli("attack", run, "--corpus", "rotten-tomatoes", "--min-similarity", bad, "--out",
                            tmp_path / "a.jsonl")[::2], "--min-similarity", "outside [0, 1]")
    assert not (tmp_path / "a.jsonl").exists()


def test_no_similarity_skips_the_measure_and_cannot_hold_a_threshold(cli, small_clf, tmp_path):
    from test_bad_input import one_line_error

    run, _ = small_clf
    records = attack_records(cli, run, tmp_path, "fast", "--method", "greedy", "--no-similarity")
    assert records and all(r["quality"]["similarity"] is None for r in records)
    code, stdout, err = cli("stats", tmp_path / "fast.jsonl", "--json")
    assert code == 0 and json.loads(stdout)["quality"]["mean_similarity"] is None
    one_line_error(*cli("attack", run, "--corpus", "rotten-tomatoes", "--no-similarity", "--min-similarity", "0.8",
                        "--out", tmp_path / "b.jsonl")[::2], "drop --no-similarity")


def test_corpus_words_are_gathered_on_the_first_question_only():
    """A resumed attack with nothing left asks nothing, and so never tokenises the corpus."""
    read = []

    def texts():
        for t in ["A fine film.", "Dull, LONG and loud"]:
            read.append(t)
            yield t

    corpus = CorpusWords(texts())
    assert read == []
    assert "long" in corpus and "fine" in corpus and "film." not in corpus and "boring" not in corpus
    assert len(read) == 2
