"""Transformer targets: a tiny randomly initialised BERT behind MiniLM's tokenizer (no weights needed)."""

from __future__ import annotations

import json

import pytest
import torch
from cli_helpers import run_cli

from advtext.goals import Misclassification
from advtext.text.classifier import TextClassifier, pad_ids
from advtext.text.models import ModelConfig
from advtext.text.tokenizer import Vocabulary, words
from advtext.text.transformer import WordPieceClassifier, minilm_path

TEXTS = ["An unwatchable, overlong mess of a film.", "The cinematography is breathtaking and the cast superb!",
         "meh", "Kubrick's masterpiece: unforgettable, haunting, extraordinary."]


@pytest.fixture
def cli(capsys, monkeypatch):
    return lambda *args: run_cli(list(args), capsys, monkeypatch)


@pytest.fixture(scope="module")
def tiny():
    """A 2-layer, 32-wide BERT classifier with random weights and MiniLM's word-piece tokenizer."""
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification
    from transformers.utils import logging

    logging.disable_progress_bar()  # saving a model would write one to stderr
    torch.manual_seed(0)
    tokenizer = AutoTokenizer.from_pretrained(str(minilm_path()), local_files_only=True)
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=64, num_labels=2,
                        architectures=["BertForSequenceClassification"])
    hf = BertForSequenceClassification(config).eval()
    vocab = Vocabulary.build(TEXTS[:2])
    model = WordPieceClassifier(ModelConfig(architecture="hf", vocab_size=len(vocab), num_classes=2), hf, tokenizer,
                                vocab).eval()
    return TextClassifier(model, vocab, None, torch.device("cpu")), tokenizer


def test_words_map_to_the_pieces_of_the_whole_text(tiny):
    """Words of one and of several pieces, words first met later: the pieces in order are the tokenizer's."""
    clf, tokenizer = tiny
    ids = pad_ids(clf.token_ids(TEXTS))  # grows the vocabulary with the words it lacks
    assert len(tokenizer("unwatchable", add_special_tokens=False)["input_ids"]) > 1
    input_ids, attention, *_ = clf.model._layout(ids)
    for row, text in enumerate(TEXTS):
        expected = tokenizer(text)["input_ids"]
        assert input_ids[row, : len(expected)].tolist() == expected
        assert int(attention[row].sum()) == len(expected)
    direct = clf.model.hf(**tokenizer(TEXTS, padding=True, return_tensors="pt")).logits
    assert torch.allclose(clf.model(ids), direct, atol=1e-5)
    assert torch.allclose(clf.predict_proba(TEXTS), direct.softmax(-1), atol=1e-5)


def test_word_gradient_is_the_sum_of_its_pieces_gradients(tiny):
    clf, tokenizer = tiny
    model = clf.model
    ids = pad_ids(clf.token_ids(TEXTS[:2]))
    vectors = model.embedding(ids).clone().requires_grad_(True)
    logits = model.forward_words(vectors, ids)
    assert torch.allclose(logits, model(ids), atol=1e-6)  # at the words' own vectors: the model itself
    (grad_words,) = torch.autograd.grad(logits[:, 0].sum(), vectors)
    input_ids, attention, row, word, place = model._layout(ids)
    pieces = model.hf.get_input_embeddings()(input_ids).detach().requires_grad_(True)
    (grad_pieces,) = torch.autograd.grad(model.hf(inputs_embeds=pieces, attention_mask=attention).logits[:, 0].sum(),
                                         pieces)
    summed = torch.zeros_like(grad_words).index_put((row, word), grad_pieces[row, place], accumulate=True)
    assert torch.allclose(grad_words, summed, atol=1e-6)
    multi = clf.vocab.stoi["unwatchable"]
    assert int(model.piece_count[multi]) > 1 and (grad_words[0, 1].abs().sum() > 0)


@pytest.mark.parametrize("method", ["greedy", "papernot"])
def test_attack_on_a_transformer_flips_it_when_retokenised(tiny, tmp_path, method):
    from advtext.text.attack import AttackSettings
    from advtext.text.dictionary import build_dictionary
    from advtext.text.run_attack import attack_texts

    clf, tokenizer = tiny
    from advtext.text.corpora import load_corpus

    texts = load_corpus("rotten-tomatoes")["test"]["text"][:12] + TEXTS
    labels = clf.predict_proba(texts).argmax(-1).tolist()  # attack the model's own predictions
    clf.cover(texts)
    records = attack_texts(clf, texts, labels, list(range(len(texts))), Misclassification(),
                           build_dictionary("vocab", clf.vocab), AttackSettings(method=method, max_change=0.5),
                           tmp_path / "a.jsonl", {"method": method}, batch_size=5)
    wins = [r for r in records if r["status"] == "succeeded"]
    assert len(wins) >= (len(texts) // 2 if method == "greedy" else 1)  # random weights, a dictionary of ~100 words
    for r in wins:  # from scratch: the tokenizer on the adversarial text, the bare Hugging Face model
        logits = clf.model.hf(**tokenizer(r["adversarial"], return_tensors="pt")).logits[0]
        assert int(logits.argmax()) != r["label"] and r["words_changed"] == len(r["changes"]) > 0
        assert [c["position"] for c in r["changes"]] == sorted(c["position"] for c in r["changes"])
        before, after = words(r["original"]), words(r["adversarial"])
        assert len(before) == len(after) and sum(a != b for a, b in zip(before, after)) == r["words_changed"]


def save_tiny(tiny, folder, head: bool = True, tokenizer: bool = True):
    from transformers import BertModel

    clf, tok = tiny
    hf = clf.model.hf if head else BertModel(clf.model.hf.config)
    if not head:
        hf.config.architectures = ["BertModel"]
    hf.save_pretrained(folder)
    if tokenizer:
        tok.save_pretrained(folder)
    return folder


def test_an_attack_refreshed_after_a_training_step_reads_the_new_word_vectors(tiny):
    """A word-piece model's word vectors are a table rebuilt from its pieces after each step, not a view of its
    weights: the adversary of adversarial training must read the new table, not the one it started with."""
    import copy

    from advtext.text.attack import AttackSettings, SequenceAttack
    from advtext.text.dictionary import build_dictionary

    clf = copy.deepcopy(tiny[0])
    clf.cover(TEXTS)
    model = clf.model
    attack = SequenceAttack(model, Misclassification(), build_dictionary("vocab", clf.vocab),
                            AttackSettings(method="greedy"))
    before = attack.table.clone()
    with torch.no_grad():
        model.hf.get_input_embeddings().weight.add_(0.1)
    attack.refresh()
    assert not torch.equal(attack.table, before)
    assert torch.equal(attack.table, model.embedding.weight)


def test_a_transformer_target_keeps_small_attack_batches_on_a_gpu(tiny, small_clf):
    """A GPU attacks 1,024 LSTM texts at once by default, but a transformer's backward pass over that many long
    texts would keep tens of GB: it keeps the CPU's 128."""
    import types

    from advtext.text.run_attack import attack_batch

    gpu = torch.device("cuda")
    lstm = TextClassifier.load(small_clf[0], "cpu")
    assert attack_batch(lstm) == 128 and attack_batch(types.SimpleNamespace(model=lstm.model, device=gpu)) == 1024
    assert attack_batch(types.SimpleNamespace(model=tiny[0].model, device=gpu)) == 128


def test_a_gpu_lstm_attack_plans_4096_texts_and_steps_1024_unless_told_otherwise(tiny, small_clf):
    import types

    from advtext.text.run_attack import attack_layout

    lstm = TextClassifier.load(small_clf[0], "cpu")
    gpu_lstm = types.SimpleNamespace(model=lstm.model, device=torch.device("cuda"))
    gpu_bert = types.SimpleNamespace(model=tiny[0].model, device=torch.device("cuda"))
    assert attack_layout(gpu_lstm, None, None, True) == (4096, 1024)
    assert attack_layout(gpu_lstm, 500, None, True) == (500, None)  # a batch given: every text stepped
    assert attack_layout(gpu_lstm, None, 300, True) == (4096, 300)
    assert attack_layout(gpu_lstm, None, None, False) == (1024, None)  # query-only or bf16: no refilling
    assert attack_layout(gpu_bert, None, None, True) == (128, None)
    assert attack_layout(lstm, None, None, True) == (128, None)


def test_a_folder_saved_in_bfloat16_is_read_in_float32(tiny, tmp_path):
    """transformers reads a folder in the dtype it was saved in; the attacks, the float32 recheck of every
    adversarial text and fine-tuning assume float32."""
    import copy

    from advtext.text.transformer import load_hf_directory

    clf, tok = tiny
    folder = tmp_path / "half"
    copy.deepcopy(clf.model.hf).to(torch.bfloat16).save_pretrained(folder)
    tok.save_pretrained(folder)
    loaded = load_hf_directory(folder, torch.device("cpu"))
    assert {p.dtype for p in loaded.model.parameters()} == {torch.float32}


def test_a_local_hugging_face_classifier_is_a_target(cli, tiny, tmp_path):
    from test_bad_input import one_line_error

    folder = save_tiny(tiny, tmp_path / "hf")
    corpus = tmp_path / "c.jsonl"
    corpus.write_text("".join(json.dumps({"text": t, "label": i % 2}) + "\n" for i, t in enumerate(TEXTS * 3)))
    code, out, err = cli("eval", f"hf:{folder}", "--corpus", corpus, "--json")
    assert code == 0, err
    assert json.loads(out)["n"] == 12
    out_file = tmp_path / "a.jsonl"
    code, _, err = cli("attack", f"hf:{folder}", "--input", corpus, "--method", "greedy", "--out", out_file)
    assert code == 0, err
    records = [json.loads(line) for line in out_file.read_text().splitlines()[1:]]
    assert len(records) == 12 and any(r["status"] == "succeeded" for r in records)
    # the tokenizer's vocabulary is far larger than the file's: substitutes the file never uses are counted
    used = {w for t in TEXTS for w in words(t)}
    counts = [r["quality"]["outside_corpus_changes"] for r in records]
    assert counts == [sum(c["new"].lower() not in used for c in r["changes"]) for r in records] and sum(counts) > 0

    one_line_error(*cli("eval", f"hf:{save_tiny(tiny, tmp_path / 'bare', head=False)}", "--corpus", corpus)[::2],
                   "without a classification head")
    one_line_error(*cli("eval", f"hf:{save_tiny(tiny, tmp_path / 'notok', tokenizer=False)}", "--corpus",
                        corpus)[::2], "no tokenizer")
    one_line_error(*cli("eval", f"hf:{tmp_path / 'nothing'}", "--corpus", corpus)[::2], "not a Hugging Face model")
    three = tmp_path / "three"
    clf, tok = tiny
    clf.model.hf.config.num_labels = 3
    try:
        from transformers import BertForSequenceClassification

        BertForSequenceClassification(clf.model.hf.config).save_pretrained(three)
        tok.save_pretrained(three)
    finally:
        clf.model.hf.config.num_labels = 2
    one_line_error(*cli("eval", f"hf:{three}", "--corpus", corpus, "--split", "all")[::2], "3 classes", "has 2")


def test_a_text_longer_than_the_model_is_cut_and_said_once(tiny, capsys):
    clf, tokenizer = tiny
    long_text = " ".join(["unforgettable"] * 40)  # several pieces a word: far past 62 pieces
    probs = clf.predict_proba([long_text, long_text + " again"])
    clf.predict_proba([long_text])
    err = capsys.readouterr().err
    assert err.count("cut to fit the model") == 1 and torch.isfinite(probs).all()
    cut = tokenizer(long_text, truncation=True, max_length=clf.model.max_pieces + 2, return_tensors="pt")
    assert torch.allclose(probs[0], clf.model.hf(**cut).logits.softmax(-1)[0], atol=1e-5)


@pytest.mark.slow
def test_minilm_fine_tuned_on_real_snippets_is_attacked(cli, tmp_path):
    """The real MiniLM: fine-tuned two epochs on 1,500 Rotten Tomatoes snippets, then attacked."""
    from advtext.text.corpora import load_corpus

    train = load_corpus("rotten-tomatoes")["train"]
    corpus = tmp_path / "rt.jsonl"
    corpus.write_text("".join(json.dumps({"text": t, "label": y}) + "\n"
                              for t, y in zip(train["text"][:1500], train["label"][:1500])))
    run = tmp_path / "minilm"
    code, _, err = cli("train", "--corpus", corpus, "--model", "minilm", "--epochs", "2", "--batch-size", "32",
                       "--lr", "1e-4", "--max-len", "40", "--out", run)
    assert code == 0, err
    assert json.loads((run / "config.json").read_text())["test"]["accuracy"] > 0.6
    out = tmp_path / "a.jsonl"
    code, _, err = cli("attack", run, "--corpus", corpus, "--split", "test", "--only-correct", "--n", "20",
                       "--method", "greedy", "--min-similarity", "0.8", "--out", out)
    assert code == 0, err
    records = [json.loads(line) for line in out.read_text().splitlines()[1:]]
    wins = [r for r in records if r["status"] == "succeeded"]
    assert len(records) == 20 and wins and all(r["quality"]["similarity"] >= 0.8 for r in wins)
    again = TextClassifier.load(run, "cpu").predict_proba([r["adversarial"] for r in wins]).argmax(-1).tolist()
    assert again == [r["pred_after"] for r in wins]
    hardened = tmp_path / "hardened"
    code, _, err = cli("harden", "--corpus", corpus, "--from", run, "--epochs", "1", "--batch-size", "32",
                       "--out", hardened)
    assert code == 0, err
    assert json.loads((hardened / "config.json").read_text())["model"]["architecture"] == "minilm"
    code, out, err = cli("eval", hardened, "--corpus", corpus, "--json")
    assert code == 0, err
    assert json.loads(out)["accuracy"] > 0.6


def test_a_tokenizer_that_does_not_cut_at_words_is_refused(cli, tiny, tmp_path):
    """A cased tokenizer sees "UNWATCHABLE" otherwise than advtext's lower-cased words: refused, one line."""
    from test_bad_input import one_line_error
    from transformers import BertTokenizerFast

    folder = save_tiny(tiny, tmp_path / "cased", tokenizer=False)
    BertTokenizerFast.from_pretrained(str(minilm_path()), do_lower_case=False).save_pretrained(folder)
    corpus = tmp_path / "c.jsonl"
    corpus.write_text("".join(json.dumps({"text": t, "label": i % 2}) + "\n" for i, t in enumerate(TEXTS)))
    one_line_error(*cli("eval", f"hf:{folder}", "--corpus", corpus, "--split", "all")[::2], "does not cut text")


def test_words_past_the_models_positions_are_never_changed(tiny, tmp_path):
    """Pieces past the model's length are cut: changing those words could not move the model, so the attack
    leaves them alone."""
    from advtext.text.attack import AttackSettings
    from advtext.text.dictionary import build_dictionary
    from advtext.text.run_attack import attack_texts

    clf, _ = tiny
    text = " ".join(["unforgettable", "film", "meh", "cast"] * 12)  # about 90 pieces, 62 fit
    clf.cover([text])
    ids = pad_ids(clf.token_ids([text]))
    visible = int(clf.model.visible_words(ids).sum())
    assert 0 < visible < ids.shape[1]
    records = attack_texts(clf, [text], [int(clf.predict_proba([text]).argmax())], [0], Misclassification(),
                           build_dictionary("vocab", clf.vocab), AttackSettings(method="papernot", seed=3),
                           tmp_path / "a.jsonl", {"method": "papernot"})
    assert records[0]["changes"] and all(c["position"] < visible for c in records[0]["changes"])


def test_an_hf_model_is_hardened_saved_and_exported(cli, tiny, tmp_path):
    """harden --from hf:PATH trains the transformer against word substitutions and embedding noise; the run
    reloads from its own folder and exports to a Hugging Face folder that predicts the same."""
    from test_bad_input import one_line_error

    folder = save_tiny(tiny, tmp_path / "hf")
    corpus = tmp_path / "c.jsonl"
    corpus.write_text("".join(json.dumps({"text": t, "label": i % 2}) + "\n" for i, t in enumerate(TEXTS * 10)))
    run = tmp_path / "hardened"
    code, _, err = cli("harden", "--corpus", corpus, "--from", f"hf:{folder}", "--method", "both",
                       "--dictionary", "wordnet", "--epochs", "1", "--batch-size", "8", "--lr", "1e-3", "--out", run)
    assert code == 0, err
    config = json.loads((run / "config.json").read_text())
    assert config["model"]["architecture"] == "hf" and config["hardening"]["from"] == f"hf:{folder}"
    assert (run / "hf" / "config.json").exists()
    hardened = TextClassifier.load(run, "cpu")
    original = tiny[0]
    assert not torch.equal(hardened.model.hf.classifier.weight, original.model.hf.classifier.weight)

    exported = tmp_path / "exported"
    code, _, err = cli("export", run, "--out", exported)
    assert code == 0, err
    again = TextClassifier.load(f"hf:{exported}", "cpu")
    assert torch.allclose(again.predict_proba(TEXTS), hardened.predict_proba(TEXTS), atol=1e-5)
    one_line_error(*cli("export", run, "--out", exported)[::2], "already holds a model")


def test_export_refuses_a_model_that_is_not_a_transformer(cli, small_clf, tmp_path):
    from test_bad_input import one_line_error

    one_line_error(*cli("export", small_clf[0], "--out", tmp_path / "x")[::2], "not a Hugging Face model")


def test_wordnet_synonyms_outside_the_vocabulary_are_offered_to_a_word_piece_model(tiny, small_clf):
    """A transformer reads any word, so its WordNet dictionary offers every synonym (as PWWS does), not only
    those its vocabulary happened to hold; an LSTM's vocabulary stays as it was trained."""
    from advtext.text.dictionary import build_dictionary

    hf, tokenizer = tiny[0].model.hf, tiny[1]
    vocab = Vocabulary.build(["a superb film"])
    model = WordPieceClassifier(ModelConfig(architecture="hf", vocab_size=len(vocab), num_classes=2), hf,
                                tokenizer, vocab).eval()
    clf = TextClassifier(model, vocab, None, torch.device("cpu"))
    clf.cover(["a superb film"], ["wordnet"])
    assert {"brilliant", "movie"} <= set(clf.vocab.itos)
    assert len(model.piece_count) == len(clf.vocab)
    d = build_dictionary("wordnet", clf.vocab)
    offered = {clf.vocab.itos[z] for z in d.candidates[clf.vocab.stoi["superb"]].tolist() if z >= 0}
    assert "brilliant" in offered
    lstm = small_clf[1]
    size = len(lstm.vocab)
    lstm.cover(["a superb zyxwv film"], ["wordnet"])
    assert len(lstm.vocab) == size
