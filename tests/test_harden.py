"""Adversarial training and robustness evaluation: the losses against their formulas, a real (small)
hardening that must raise accuracy under attack, figures recomputed from the records, resuming."""

from __future__ import annotations

import copy
import json
import random

import pytest
import torch
from torch.nn.functional import cross_entropy

from advtext.defenses.robustness import AttackSpec, measure_robustness
from advtext.defenses.text_hardening import AdversarialTrainingStep, HardenSettings, embedding_perturbation
from advtext.text.classifier import TextClassifier, pad_ids
from advtext.text.dictionary import build_dictionary, wordnet
from advtext.text.models import ModelConfig, build_model
from advtext.text.tokenizer import Vocabulary, words
from advtext.text.train import fit_text
from advtext.training import TrainSettings


def grads(model):
    return [p.grad.clone() if p.grad is not None else torch.zeros_like(p) for p in model.parameters()]


@pytest.fixture(scope="module")
def batch(small_clf, rotten):
    _, clf = small_clf
    texts, labels = rotten["validation"]["text"][:48], rotten["validation"]["label"][:48]
    return clf, pad_ids(clf.token_ids(texts)), torch.tensor(labels)


@pytest.mark.parametrize("attack", ["greedy", "papernot"])
def test_discrete_step_backpropagates_the_mixed_loss_formula(batch, attack):
    clf, ids, y = batch
    model = copy.deepcopy(clf.model).train()
    dictionary = build_dictionary("wordnet", clf.vocab, protect_stopwords=True)
    step = AdversarialTrainingStep(model, HardenSettings(method="discrete", alpha=0.3, attack=attack), dictionary)
    torch.manual_seed(0)
    figures = step(model, ids, y)
    from_step = grads(model)
    adv = step.last_adversarial
    assert (adv != ids).any(1).float().mean() > 0.5  # most rows were attacked
    model.zero_grad()
    loss = 0.3 * cross_entropy(model(ids), y) + 0.7 * cross_entropy(model(adv), y)
    loss.backward()
    assert figures["loss"] == pytest.approx(loss.item(), rel=1e-5)
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(from_step, grads(model)))
    # only allowed substitutions, within the word budget (20%, at least one word)
    lengths = (ids != 0).sum(1)
    changed = adv != ids
    assert (changed.sum(1) <= (0.2 * lengths + 1e-9).floor().clamp(min=1)).all()
    for r, p in changed.nonzero().tolist():
        assert int(adv[r, p]) in dictionary.candidates[ids[r, p]].tolist()
    assert 0 <= figures["flipped"] <= 1 and figures["attackable"] > 0.9


def test_embedding_perturbation_has_norm_epsilon_and_the_gradients_direction():
    torch.manual_seed(0)
    grad = torch.randn(4, 7, 5)
    mask = torch.ones(4, 7, dtype=torch.bool)
    mask[1, 3:] = False
    r = embedding_perturbation(grad, mask, 0.7)
    assert torch.allclose(r.flatten(1).norm(dim=1), torch.full((4,), 0.7))
    assert (r[1, 3:] == 0).all()
    g = grad * mask[..., None]
    cosine = torch.nn.functional.cosine_similarity(r.flatten(1), g.flatten(1))
    assert torch.allclose(cosine, torch.ones(4))


def test_embedding_step_is_miyatos_loss(batch):
    clf, ids, y = batch
    model = copy.deepcopy(clf.model).train()
    step = AdversarialTrainingStep(model, HardenSettings(method="embedding", alpha=0.5, epsilon=0.8))
    figures = step(model, ids, y)
    from_step = grads(model)
    model.zero_grad()
    emb = model.embedding(ids).detach().requires_grad_(True)
    (g,) = torch.autograd.grad(cross_entropy(model.forward_embeddings(emb, ids != 0), y), emb)
    r = 0.8 * g / g.flatten(1).norm(dim=1)[:, None, None]
    mask = ids != 0
    loss = (0.5 * cross_entropy(model(ids), y)
            + 0.5 * cross_entropy(model.forward_embeddings(model.embedding(ids) + r, mask), y))
    loss.backward()
    assert figures["loss"] == pytest.approx(loss.item(), rel=1e-5)
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(from_step, grads(model)))


def test_freelb_steps_stay_inside_the_epsilon_ball(batch, monkeypatch):
    import advtext.defenses.text_hardening as hardening

    clf, ids, y = batch
    model = copy.deepcopy(clf.model).train()
    seen = []
    forward = model.forward_embeddings

    def spy(emb, mask):
        seen.append((emb - model.embedding(ids)).detach().flatten(1).norm(dim=1))
        return forward(emb, mask)

    monkeypatch.setattr(model, "forward_embeddings", spy)
    step = hardening.AdversarialTrainingStep(model, HardenSettings(method="embedding", epsilon=0.6, steps=3))
    step(model, ids, y)
    assert len(seen) == 4  # the clean pass and three ascent steps
    assert torch.allclose(seen[1], torch.full_like(seen[1], 0.2), atol=1e-5)  # first step: epsilon / K
    assert all((norms <= 0.6 + 1e-5).all() for norms in seen[1:]) and (seen[3] > 0.25).all()


def trigger_corpus(n: int, seed: int) -> tuple[list[str], list[int], list[str]]:
    """Filler words and one trigger word that decides the label; the triggers' WordNet synonyms are in the
    vocabulary but never in a training text, so a normally trained model knows nothing of them."""
    wn = wordnet()
    triggers = {1: ["good", "great", "excellent"], 0: ["bad", "awful", "terrible"]}
    synonyms = {c: {lemma.name().lower() for w in ws for s in wn.synsets(w) for lemma in s.lemmas()} - set(ws)
                for c, ws in triggers.items()}
    shared = synonyms[0] & synonyms[1]
    extra = sorted(w for c in synonyms for w in synonyms[c] - shared if w.isalpha())
    fillers = ["film", "plot", "actor", "scene", "story", "music", "camera", "script", "ending", "cast", "director",
               "studio", "screen", "sequel", "budget", "premiere", "festival", "critic", "genre", "audience"]
    rng = random.Random(seed)
    texts, labels = [], []
    for _ in range(n):
        label = rng.randrange(2)
        sentence = rng.sample(fillers, 6)
        sentence.insert(rng.randrange(7), rng.choice(triggers[label]))
        texts.append(" ".join(sentence))
        labels.append(label)
    return texts, labels, extra


def new_classifier(texts: list[str], extra: list[str]) -> TextClassifier:
    vocab = Vocabulary(Vocabulary.build(texts).itos + [w for w in extra if w not in set(words(" ".join(texts)))])
    torch.manual_seed(0)
    return TextClassifier(build_model(ModelConfig(vocab_size=len(vocab), embed_dim=24, hidden_size=24)), vocab, 20)


def test_discrete_hardening_resists_the_attack_that_breaks_the_baseline(tmp_path):
    texts, labels, extra = trigger_corpus(800, seed=0)
    test_texts, test_labels, _ = trigger_corpus(200, seed=1)
    settings = TrainSettings(epochs=6, batch_size=32, lr=5e-3, seed=0, patience=9)
    baseline = new_classifier(texts, extra)
    fit_text(baseline, texts, labels, test_texts[:50], test_labels[:50], settings, log=lambda m: None)
    hardened = new_classifier(texts, extra)
    dictionary = build_dictionary("wordnet", hardened.vocab, protect_stopwords=True)
    step = AdversarialTrainingStep(hardened.model, HardenSettings(method="discrete"), dictionary)
    history = fit_text(hardened, texts, labels, test_texts[:50], test_labels[:50], settings, log=lambda m: None,
                       step=step)
    assert {"clean_loss", "discrete_loss", "flipped", "attackable"} <= set(history[0])
    result = measure_robustness([("baseline", baseline), ("hardened", hardened)],
                                [AttackSpec("greedy", "wordnet", True, 0.2)], test_texts, test_labels,
                                list(range(len(test_texts))), {"corpus": "triggers"}, 0, tmp_path)
    base, hard = ({k: v for k, v in r["attacks"]["greedy/wordnet"].items()} | {"clean": r["clean_accuracy"]}
                  for r in result["runs"])
    assert base["clean"] > 0.95 and hard["clean"] > 0.95
    assert base["accuracy_under_attack"] < 0.6  # the synonyms break the normally trained model
    assert hard["accuracy_under_attack"] > base["accuracy_under_attack"] + 0.3


def test_robustness_figures_equal_those_recomputed_from_the_records(small_clf, rotten, tmp_path):
    _, clf = small_clf
    texts, labels = rotten["test"]["text"][:80], rotten["test"]["label"][:80]
    specs = [AttackSpec("greedy", "wordnet"), AttackSpec("papernot", "vocab")]
    result = measure_robustness([("a", clf), ("b", clf)], specs, texts, labels, list(range(80)),
                                {"corpus": "rotten-tomatoes"}, 0, tmp_path, batch_size=32, transfer_from=("src", clf))
    json.dumps(result, allow_nan=False)
    clean = float((clf.predict_proba(texts).argmax(1) == torch.tensor(labels)).float().mean())
    for run in result["runs"]:
        assert run["clean_accuracy"] == pytest.approx(clean)
        for spec in specs:
            figures = run["attacks"][spec.name]
            records = [json.loads(line) for line in open(figures["records_file"]).read().splitlines()[1:]]
            assert len(records) == 80
            succeeded = [r for r in records if r["status"] == "succeeded"]
            attacked = [r for r in records if r["status"] in ("succeeded", "failed")]
            held = sum(r["pred_after"] == r["label"] for r in records) / 80
            assert figures["accuracy_under_attack"] == pytest.approx(held)
            assert figures["success_rate"] == pytest.approx(len(succeeded) / len(attacked))
            assert figures["mean_words_changed"] == pytest.approx(
                sum(r["words_changed"] for r in succeeded) / len(succeeded))
            assert figures["words_to_flip_failures_counted"] == pytest.approx(
                sum(r["words_changed"] + (r["status"] == "failed") for r in attacked) / len(attacked))
            curve = figures["accuracy_by_budget"]
            assert curve[0] == pytest.approx(clean) and curve[-1] == pytest.approx(held)
            assert all(a >= b for a, b in zip(curve, curve[1:]))
            # the same model as the transfer source: its own adversarial texts hold it to the same accuracy,
            # and none of the texts that fooled it is classified right
            assert run["transfer"][spec.name]["accuracy"] == pytest.approx(held)
            assert run["transfer"][spec.name]["accuracy_on_successes"] == 0.0


@pytest.mark.parametrize("schedule", ["online", "offline"])
def test_interrupted_hardening_resumes_to_the_same_weights(tmp_path, schedule):
    texts, labels, extra = trigger_corpus(300, seed=2)

    def run(progress, log=lambda m: None):
        clf = new_classifier(texts, extra)
        dictionary = build_dictionary("wordnet", clf.vocab, protect_stopwords=True)
        step = AdversarialTrainingStep(clf.model, HardenSettings(method="both", attack="papernot",
                                                                 schedule=schedule), dictionary)
        history = fit_text(clf, texts, labels, texts[:40], labels[:40], TrainSettings(epochs=3, seed=1, patience=9),
                           log=log, step=step, progress_file=progress, identity={"n": 300},
                           epoch_start=step.epoch_start)
        return clf.model.state_dict(), history

    whole, whole_history = run(None)
    again, _ = run(None)
    assert all(torch.equal(whole[k], again[k]) for k in whole)  # same seed, same weights

    def interrupt(message):  # at the end of epoch 3, before its state is saved: the resumed run redoes it
        if message.startswith("epoch 3"):
            raise KeyboardInterrupt

    progress = tmp_path / "progress.pt"
    with pytest.raises(KeyboardInterrupt):
        run(progress, interrupt)
    resumed, resumed_history = run(progress)
    assert resumed_history == [{**h, "seconds": r["seconds"]} for h, r in zip(whole_history, resumed_history)]
    assert all(torch.equal(whole[k], resumed[k]) for k in whole)


@pytest.mark.parametrize("method, active", [("papernot", 5), ("oracle", None)])
def test_robustness_attacks_with_the_layout_of_the_model_attacked(small_clf, monkeypatch, tmp_path, method, active):
    """Each attack takes ``attack_layout``'s batch and active rows for its model (none for the query-only one)."""
    from advtext.defenses import robustness

    _, clf = small_clf
    asked, used = [], {}
    monkeypatch.setattr(robustness, "attack_layout", lambda model, batch, rows, refills: asked.append(
        (model, batch, rows, refills)) or (16, 5 if refills else None))
    monkeypatch.setattr(robustness, "attack_texts", lambda *a: used.update(settings=a[6], batch=a[9]) or [])
    robustness.run_attack(clf, "run", AttackSpec(method, "wordnet"), ["a b"], [0], [0], {}, 0, tmp_path, None)
    assert asked == [(clf, None, None, method != "oracle")]
    assert used["batch"] == 16 and used["settings"].active_rows == active
