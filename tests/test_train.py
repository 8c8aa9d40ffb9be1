import json
import subprocess
import sys

import torch

from advtext.text.classifier import TextClassifier, pad_ids
from advtext.text.models import ModelConfig, build_model
from advtext.training import accuracy


def test_small_real_training_run_clearly_beats_chance(small_clf, rotten):
    _, clf = small_clf
    test = rotten["test"]
    acc = accuracy(clf, test["text"], test["label"])
    majority = max(sum(test["label"]), len(test) - sum(test["label"])) / len(test)
    assert acc > majority + 0.05, (acc, majority)


def test_save_then_load_gives_identical_logits(small_clf, rotten):
    run, clf = small_clf
    again = TextClassifier.load(run, "cpu")
    ids = pad_ids(clf.token_ids(rotten["test"]["text"][:64]))
    assert torch.equal(clf.logits(ids), again.logits(ids))
    assert again.vocab.itos == clf.vocab.itos and again.max_len == clf.max_len


def test_forward_from_ids_equals_forward_from_embeddings():
    for arch, bi in (("lstm", False), ("lstm", True), ("cnn", False)):
        torch.manual_seed(0)
        model = build_model(ModelConfig(architecture=arch, vocab_size=50, embed_dim=8, hidden_size=8,
                                        bidirectional=bi, num_filters=4)).eval()
        ids = torch.tensor([[5, 6, 7, 8, 9], [3, 4, 0, 0, 0]])
        direct = model(ids)
        via_emb = model.forward_embeddings(model.embedding(ids), ids != 0)
        assert torch.allclose(direct, via_emb)
        # padding must not change a row's logits
        assert torch.allclose(model(ids[1:, :2]), direct[1:], atol=1e-6)


def test_same_seed_gives_same_weights(rotten):
    from advtext.text.tokenizer import Vocabulary
    from advtext.text.train import fit_text
    from advtext.training import TrainSettings

    train = rotten["train"].select(range(300))
    weights = []
    for _ in range(2):
        vocab = Vocabulary.build(train["text"], max_size=500)
        torch.manual_seed(0)
        clf = TextClassifier(build_model(ModelConfig(vocab_size=len(vocab), embed_dim=8, hidden_size=8)), vocab, 20)
        fit_text(clf, train["text"], train["label"], train["text"][:50], train["label"][:50],
            TrainSettings(epochs=1, seed=3), log=lambda m: None)
        weights.append(clf.model.state_dict())
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])


def test_cli_help_runs_as_a_script():
    out = subprocess.run([sys.executable, "cli.py", "--help"], capture_output=True, text=True, check=True)
    for command in ("train", "eval", "attack", "stats", "image"):
        assert command in out.stdout


def test_suffix_only_substitution_check_equals_full_forward_passes():
    from advtext.text.models import full_substitution_logits

    for pooling, layers in (("mean", 1), ("last", 1), ("mean", 2)):
        torch.manual_seed(0)
        model = build_model(ModelConfig(vocab_size=30, embed_dim=6, hidden_size=5, pooling=pooling,
                                        num_layers=layers)).eval()
        ids = torch.tensor([[3, 4, 5, 6, 7, 8], [9, 10, 11, 0, 0, 0], [12, 0, 0, 0, 0, 0]])
        row = torch.tensor([0, 0, 0, 1, 1, 2])
        pos = torch.tensor([0, 3, 5, 1, 2, 0])
        word = torch.tensor([20, 21, 22, 23, 24, 25])
        fast = model.substitution_logits(ids, row, pos, word)
        assert torch.allclose(fast, full_substitution_logits(model, ids, row, pos, word), atol=1e-5)


def test_interrupted_training_resumes_to_the_same_weights(rotten, tmp_path):
    import pytest

    from advtext.text.tokenizer import Vocabulary
    from advtext.text.train import fit_text
    from advtext.training import TrainSettings

    train = rotten["train"].select(range(400))
    texts, labels = train["text"], train["label"]
    vocab = Vocabulary.build(texts, max_size=800)

    def run(progress, log=lambda m: None):
        torch.manual_seed(0)
        clf = TextClassifier(build_model(ModelConfig(vocab_size=len(vocab), embed_dim=8, hidden_size=8,
                                                     dropout=0.3, pooling="last")), vocab, 20)
        history = fit_text(clf, texts, labels, texts[:60], labels[:60], TrainSettings(epochs=3, seed=3, patience=9),
                           log=log, progress_file=progress, identity={"n": 400})
        return clf.model.state_dict(), history

    whole, whole_history = run(None)

    def interrupt_in_epoch_3(message):
        if message.startswith("epoch 3"):
            raise KeyboardInterrupt

    progress = tmp_path / "progress.pt"
    with pytest.raises(KeyboardInterrupt):
        run(progress, interrupt_in_epoch_3)
    assert progress.exists()
    resumed, resumed_history = run(progress)
    assert [h["val_accuracy"] for h in resumed_history] == [h["val_accuracy"] for h in whole_history]
    assert all(torch.equal(whole[k], resumed[k]) for k in whole)
    assert not progress.exists()


def test_a_training_state_saved_before_torchrun_support_still_reads(tmp_path):
    """States written with one random state under "rng/torch" (no per-rank list) resume as one rank's."""
    from safetensors.torch import save_file

    from advtext.checkpoint import read_progress

    rng = torch.get_rng_state()
    layout = {"identity": {"n": 1}, "history": [], "best": -1.0, "stale": 0, "param_groups": [], "cuda_rngs": 0,
              "best_state": False}
    path = tmp_path / "old.safetensors"
    save_file({"rng/torch": rng}, str(path), metadata={"advtext_training_state": json.dumps(layout)})
    saved = read_progress(path)
    assert len(saved["torch_rng"]) == 1 and torch.equal(saved["torch_rng"][0], rng)
