"""`advtext harden` and `advtext robustness` as a user runs them, and what bad input gets."""

import json

import pytest
from cli_helpers import run_cli
from test_bad_input import one_line_error


@pytest.fixture
def cli(capsys, monkeypatch):
    return lambda *args: run_cli(list(args), capsys, monkeypatch)


SMALL = ["--epochs", "1", "--max-len", "30", "--embed-dim", "16", "--hidden-size", "16"]


@pytest.fixture(scope="module")
def corpus(rotten, tmp_path_factory):
    path = tmp_path_factory.mktemp("corpus") / "rt.csv"
    import csv

    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["text", "label"])
        writer.writerows(zip(rotten["train"]["text"][:1500], rotten["train"]["label"][:1500]))
    return path


def test_harden_then_robustness_side_by_side(cli, corpus, tmp_path):
    base, hard = tmp_path / "base", tmp_path / "hard"
    code, _, err = cli("train", "--corpus", corpus, *SMALL, "--out", base)
    assert code == 0, err
    code, out, err = cli("harden", "--corpus", corpus, "--from", base, "--epochs", "1", "--out", hard)
    assert code == 0, err
    config = json.loads((hard / "config.json").read_text())
    assert config["hardening"]["method"] == "discrete" and config["hardening"]["from"] == str(base)
    epoch = config["history"][0]
    assert {"clean_loss", "discrete_loss", "flipped", "attackable", "seconds"} <= set(epoch)
    assert epoch["flipped"] > 0 and epoch["attackable"] > 0.5
    code, out, err = cli("robustness", base, hard, "--corpus", corpus, "--n", "40", "--method", "greedy,papernot",
                         "--dictionary", "wordnet", "--transfer-from", base, "--plots", tmp_path / "plots", "--json")
    assert code == 0, err
    result = json.loads(out)
    assert [r["run"] for r in result["runs"]] == [str(base), str(hard)]
    for run in result["runs"]:
        assert set(run["attacks"]) == {"greedy/wordnet", "papernot/wordnet"}
        for figures in run["attacks"].values():
            assert 0 <= figures["accuracy_under_attack"] <= run["clean_accuracy"]
            assert figures["records_file"] is None  # no --out: the records were not kept
        assert set(run["transfer"]) == {"greedy/wordnet", "papernot/wordnet"}
    assert sorted(p.name for p in (tmp_path / "plots").iterdir()) == ["robustness-greedy-wordnet.png",
                                                                       "robustness-papernot-wordnet.png"]
    code, out, err = cli("robustness", base, hard, "--corpus", corpus, "--n", "40", "--method", "greedy")
    assert code == 0 and "clean accuracy" in out and "greedy/wordnet" in out


def test_a_dictionary_with_few_candidates_trains_on_and_says_so(cli, corpus, tmp_path):
    code, _, err = cli("harden", "--corpus", corpus, *SMALL, "--dictionary", "glove:0.97", "--out", tmp_path / "h")
    assert code == 0, err
    epoch = json.loads((tmp_path / "h" / "config.json").read_text())["history"][0]
    assert epoch["attackable"] < 0.5


@pytest.mark.parametrize("args,needle", [
    (["--epsilon", "0"], "--epsilon 0.0 must be positive"),
    (["--alpha", "1.5"], "--alpha 1.5 is outside [0, 1]"),
    (["--method", "magic"], "'magic' is not one of"),
    (["--method", "embedding", "--dictionary", "vocab"], "--dictionary has no effect with --method embedding"),
    (["--epsilon", "2"], "--epsilon has no effect with --method discrete"),
    (["--alpha", "1"], "no weight"),
])
def test_bad_hardening_options(cli, corpus, tmp_path, args, needle):
    one_line_error(*cli("harden", "--corpus", corpus, *args, "--out", tmp_path / "h")[::2], needle)
    assert not (tmp_path / "h").exists()


def test_harden_from_an_image_run_or_a_one_class_corpus(cli, corpus, tmp_path):
    image = tmp_path / "image-run"
    image.mkdir()
    (image / "config.json").write_text(json.dumps({"domain": "image", "model": {}}))
    (image / "model.safetensors").write_bytes(b"")
    one_line_error(*cli("harden", "--corpus", corpus, "--from", image, "--out", tmp_path / "h")[::2],
                   "holds a image model, not a text one")
    one_line_error(*cli("harden", "--corpus", corpus, "--from", image, "--hidden-size", "8", "--out",
                        tmp_path / "h")[::2], "--hidden-size cannot change a model taken --from")
    one_class = tmp_path / "one.csv"
    one_class.write_text("text,label\n" + "".join(f"a fine film number {i},0\n" for i in range(60)))
    one_line_error(*cli("harden", "--corpus", one_class, "--out", tmp_path / "h")[::2], "single class")
    assert not (tmp_path / "h" / "model.safetensors").exists()


def test_robustness_refuses_runs_of_different_label_sets(cli, tmp_path):
    two, three = tmp_path / "two.csv", tmp_path / "three.csv"
    words = ["good", "bad", "fine", "dull", "great", "awful"]
    two.write_text("text,label\n" + "".join(f"{w} film {i},{i % 2}\n" for i in range(60) for w in words[:1]))
    three.write_text("text,label\n" + "".join(f"{w} film {i},{i % 3}\n" for i in range(60) for w in words[:1]))
    for corpus, run in ((two, tmp_path / "r2"), (three, tmp_path / "r3")):
        code, _, err = cli("train", "--corpus", corpus, *SMALL, "--out", run)
        assert code == 0, err
    one_line_error(*cli("robustness", tmp_path / "r2", tmp_path / "r3", "--corpus", two, "--n", "5")[::2],
                   "different label sets")
    one_line_error(*cli("robustness", tmp_path / "r2", "--corpus", two, "--method", "fgsm")[::2],
                   "unknown attack method 'fgsm'")
    one_line_error(*cli("robustness", tmp_path / "r2", "--corpus", two, "--dictionary", "wordnet,glove-safe:x")[::2],
                   "dictionary 'glove-safe:x'")
