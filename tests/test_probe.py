"""The Szegedy 2013 probe: top inputs for a unit and for a random direction (images and LSTM text)."""

import pytest
import torch

from advtext.errors import AdvtextError
from advtext.image.models import ImageModelConfig, build_image_model
from advtext.image.probe import hidden_features
from advtext.probe import top_activating, unit_and_random_direction
from advtext.text.classifier import TextClassifier
from advtext.text.models import ModelConfig, build_model
from advtext.text.probe import sentence_states, text_probe
from advtext.text.tokenizer import Vocabulary


def test_top_activating_orders_by_projection():
    features = torch.tensor([[0.0, 1.0], [3.0, 0.0], [1.0, 1.0], [2.0, -5.0]])
    assert top_activating(features, torch.tensor([1.0, 0.0]), 2).tolist() == [1, 3]
    picked = unit_and_random_direction(features, 1, 2, torch.Generator().manual_seed(0))
    assert picked["unit 1"].tolist() == [0, 2] and len(picked["random direction"]) == 2


def by_hand(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The last hidden layer from the weights, with plain tensor operations."""
    f = torch.nn.functional
    if model.cfg.architecture == "mlp":
        first, second = model.body[1], model.body[3]
        return f.relu(f.relu(x.flatten(1) @ first.weight.T + first.bias) @ second.weight.T + second.bias)
    h = x
    for conv in (model.features[0], model.features[3]):
        h = f.max_pool2d(f.relu(f.conv2d(h, conv.weight, conv.bias, padding=2)), 2)
    return f.relu(h.flatten(1) @ model.fc.weight.T + model.fc.bias)


@pytest.mark.parametrize("architecture", ["cnn", "mlp"])
def test_image_hidden_features_are_the_last_hidden_layer(architecture):
    torch.manual_seed(0)
    model = build_image_model(ImageModelConfig(architecture=architecture, hidden_size=16, conv_channels=[4, 8]))
    x = torch.rand(5, 1, 28, 28)
    features = hidden_features(model, x, batch_size=2)
    with torch.no_grad():
        assert torch.allclose(features, by_hand(model, x), atol=1e-6)
        assert torch.allclose(model.out(features), model(x), atol=1e-6)  # the layer the output reads
    assert (features > 0).any() and (features == 0).any()  # after the ReLU, and not all zero


def test_text_probe_returns_texts_of_the_corpus():
    texts = ["a good film", "a bad film", "good good good", "bad and dull", "fine acting", "dull plot"]
    torch.manual_seed(0)
    vocab = Vocabulary.build(texts)
    model = build_model(ModelConfig(vocab_size=len(vocab), embed_dim=8, hidden_size=6)).eval()
    clf = TextClassifier(model, vocab, 20)
    states = sentence_states(clf, texts, batch_size=4)
    assert states.shape == (6, 6)
    picked = text_probe(clf, texts, unit=2, k=3)
    best = states[:, 2].argmax().item()
    assert picked["unit 2"][0] == texts[best] and set(picked["random direction"]) <= set(texts)
    with pytest.raises(AdvtextError, match="out of range"):
        text_probe(clf, texts, unit=6)
