"""Every bad input gets one line on stderr naming the problem and the fix, exit code 2."""

import json

import pytest
from cli_helpers import run_cli


def one_line_error(code, err, *needles):
    assert code == 2, err
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in lines[0], lines[0]


@pytest.fixture
def cli(capsys, monkeypatch):
    return lambda *args: run_cli(list(args), capsys, monkeypatch)


def test_unknown_corpus(cli, tmp_path):
    one_line_error(*cli("train", "--corpus", "nope", "--out", tmp_path / "r")[::2], "unknown corpus 'nope'")
    assert not (tmp_path / "r").exists()


def test_missing_file(cli, tmp_path):
    one_line_error(*cli("train", "--corpus", tmp_path / "none.csv", "--out", tmp_path / "r")[::2], "not found")


def test_csv_without_the_named_columns(cli, tmp_path):
    f = tmp_path / "d.csv"
    f.write_text("body,y\nhello,1\n")
    one_line_error(*cli("train", "--corpus", f, "--out", tmp_path / "r")[::2], "no column 'text'", "--text-column")


def test_empty_text_rows_refused_or_skipped(cli, tmp_path):
    f = tmp_path / "d.csv"
    f.write_text("text,label\ngood film,1\n,0\nbad film,0\n")
    code, _, err = cli("train", "--corpus", f, "--empty", "refuse", "--out", tmp_path / "r")
    one_line_error(code, err, "row 2 has empty text")
    from advtext.text.corpora import labeled_examples, read_records

    texts, labels = labeled_examples(read_records(f), str(f), empty="skip")
    assert texts == ["good film", "bad film"] and labels == [1, 0]


def test_non_utf8_bytes(cli, tmp_path):
    f = tmp_path / "d.csv"
    f.write_bytes("text,label\ncaf\xe9 ok,1\n".encode("latin-1"))
    one_line_error(*cli("train", "--corpus", f, "--out", tmp_path / "r")[::2], "not UTF-8")


def test_labels_not_0_to_k_minus_1(cli, tmp_path):
    f = tmp_path / "d.jsonl"
    f.write_text("".join(json.dumps({"text": f"t {i}", "label": 2 * (i % 2) + 1}) + "\n" for i in range(10)))
    one_line_error(*cli("train", "--corpus", f, "--out", tmp_path / "r")[::2], "labels must be 0..k-1")
    f.write_text(json.dumps({"text": "t", "label": "pos"}) + "\n")
    one_line_error(*cli("train", "--corpus", f, "--out", tmp_path / "r")[::2], "not an integer")


@pytest.mark.parametrize("value", ["0", "-5"])
def test_max_len_zero_or_negative(cli, tmp_path, value):
    one_line_error(*cli("train", "--max-len", value, "--out", tmp_path / "r")[::2], "--max-len")


def test_output_directory_with_a_model_is_refused(cli, small_clf):
    run, _ = small_clf
    one_line_error(*cli("train", "--corpus", "rotten-tomatoes", "--out", run)[::2], "already holds a model",
                   "--overwrite")


def test_mismatched_checkpoint(cli, small_clf, tmp_path):
    import shutil

    run, _ = small_clf
    bad = tmp_path / "bad"
    shutil.copytree(run, bad)
    itos = json.loads((bad / "vocab.json").read_text())
    (bad / "vocab.json").write_text(json.dumps(itos[:-3]))
    one_line_error(*cli("eval", bad, "--corpus", "rotten-tomatoes")[::2], "different runs")
    cfg = json.loads((run / "config.json").read_text())
    cfg["model"]["hidden_size"] += 1
    shutil.copy(run / "vocab.json", bad / "vocab.json")
    (bad / "config.json").write_text(json.dumps(cfg))
    one_line_error(*cli("eval", bad, "--corpus", "rotten-tomatoes")[::2], "weights do not match")


def test_run_directory_without_a_model(cli, tmp_path):
    one_line_error(*cli("attack", tmp_path, "--out", tmp_path / "a.jsonl")[::2], "holds no model")


def test_too_small_a_corpus(cli, tmp_path):
    f = tmp_path / "d.csv"
    f.write_text("text,label\ngood,1\nbad,0\n")
    code, _, err = cli("train", "--corpus", f, "--out", tmp_path / "r")
    one_line_error(code, err, "too small")


@pytest.mark.parametrize("label", ["nan", "inf", "1e300"])
def test_non_finite_or_huge_labels(cli, tmp_path, label):
    f = tmp_path / "d.csv"
    f.write_text("text,label\n" + "".join(f"text {i},{label if i == 3 else i % 2}\n" for i in range(30)))
    code, _, err = cli("train", "--corpus", f, "--out", tmp_path / "r")
    one_line_error(code, err, "label")


def test_json_rows_that_are_not_objects(cli, tmp_path):
    f = tmp_path / "d.jsonl"
    f.write_text("5\n[1, 2]\n")
    one_line_error(*cli("train", "--corpus", f, "--out", tmp_path / "r")[::2], "JSON object")


def test_very_long_csv_field_is_read(tmp_path):
    from advtext.text.corpora import read_records

    f = tmp_path / "d.csv"
    f.write_text("text,label\n" + "word " * 60000 + ",1\n")
    assert len(read_records(f)[0]["text"]) == 300000


@pytest.mark.parametrize("option,value,needle", [("--lr", "-1", "--lr"), ("--device", "mps", "unknown device"),
                                                 ("--device", "cuda:7", "cuda")])
def test_bad_training_options(cli, tmp_path, option, value, needle):
    code, _, err = cli("train", "--corpus", "rotten-tomatoes", option, value, "--out", tmp_path / "r")
    one_line_error(code, err, needle)


def test_attack_output_that_is_not_an_attack_file(cli, small_clf, tmp_path):
    run, _ = small_clf
    texts = tmp_path / "t.txt"
    texts.write_text("a fine film\n")
    binary = tmp_path / "x.bin"
    binary.write_bytes(b"\xff\xfe\x00junk")
    one_line_error(*cli("attack", run, "--input", texts, "--out", binary)[::2], "not an advtext attack file")
    blocker = tmp_path / "file"
    blocker.write_text("x")
    one_line_error(*cli("attack", run, "--input", texts, "--out", blocker / "a.jsonl")[::2], "check the path")
    one_line_error(*cli("stats", texts)[::2], "not JSON")


def test_a_sign_search_bf16_or_active_rows_that_cannot_run_here_or_is_not_run(cli, small_clf, tmp_path):
    run, _ = small_clf
    texts = tmp_path / "t.txt"
    texts.write_text("a fine film\n")
    out = tmp_path / "a.jsonl"
    one_line_error(*cli("attack", run, "--input", texts, "--sign-search", "triton", "--device", "cpu",
                        "--out", out)[::2], "runs on a CUDA GPU", "numba or blocked")
    one_line_error(*cli("attack", run, "--input", texts, "--method", "greedy", "--sign-search", "blocked",
                        "--out", out)[::2], "--method greedy does not run", "drop it")
    one_line_error(*cli("attack", run, "--input", texts, "--dictionary", "wordnet", "--sign-search", "blocked",
                        "--out", out)[::2], "searched directly", "drop --sign-search")
    one_line_error(*cli("attack", run, "--input", texts, "--dictionary", "wordnet", "--threat", "oracle", "--method",
                        "greedy", "--bf16", "--out", out)[::2], "runs none", "drop --bf16")
    one_line_error(*cli("attack", run, "--input", texts, "--dictionary", "wordnet", "--threat", "oracle", "--method",
                        "greedy", "--active-rows", "4", "--out", out)[::2], "steps every text of a batch at once",
                   "drop --active-rows")
    assert cli("attack", run, "--input", texts, "--active-rows", "0", "--out", out)[0] != 0
    assert not out.exists()


def test_weights_changed_on_disk_or_config_without_a_model(cli, small_clf, tmp_path):
    import shutil

    run, _ = small_clf
    assert len(json.loads((run / "config.json").read_text())["weights_sha256"]) == 64
    bad = tmp_path / "bad"
    shutil.copytree(run, bad)
    data = bytearray((bad / "model.safetensors").read_bytes())
    data[-5:] = b"\x00\x01\x02\x03\x04"  # a few weight bytes overwritten: safetensors itself would load them
    (bad / "model.safetensors").write_bytes(bytes(data))
    one_line_error(*cli("eval", bad, "--corpus", "rotten-tomatoes")[::2], "has changed since it was saved")
    shutil.copy(run / "model.safetensors", bad / "model.safetensors")
    cfg = json.loads((run / "config.json").read_text())
    (bad / "config.json").write_text(json.dumps({**cfg, "model": None}))
    one_line_error(*cli("attack", bad, "--input", bad / "vocab.json", "--out", tmp_path / "a.jsonl")[::2],
                   "does not describe the model")


def _foreign_safetensors() -> bytes:
    from safetensors.torch import save

    return save({"x": __import__("torch").zeros(2)})  # a safetensors file, but no training state in it


@pytest.mark.parametrize("content", [b"", b"\x80\x04random bytes that are no pickle", b"PK\x03\x04cut",
                                     _foreign_safetensors()])
def test_damaged_training_progress_file(cli, tmp_path, content):
    corpus = tmp_path / "c.csv"
    corpus.write_text("text,label\n" + "".join(f"film {i} is {'good' if i % 2 else 'bad'},{i % 2}\n"
                                                for i in range(60)))
    out = tmp_path / "run"
    out.mkdir()
    (out / "training-progress.safetensors").write_bytes(content)
    one_line_error(*cli("train", "--corpus", corpus, "--epochs", "1", "--out", out)[::2],
                   "not a readable advtext training state", "--overwrite")
    code, _, err = cli("train", "--corpus", corpus, "--epochs", "1", "--embed-dim", "8", "--hidden-size", "8",
                       "--out", out, "--overwrite")
    assert code == 0, err


@pytest.mark.parametrize("record,needle", [
    ({"length": "abc"}, "length 'abc' is not a count"),
    ({"status": "won"}, "unknown status 'won'"),
    ({"seconds": None}, "seconds None is not a number"),
])
def test_records_edited_by_hand(cli, tmp_path, record, needle):
    good = {"id": 0, "status": "failed", "label": 1, "length": 3, "words_changed": 0, "changes": [],
            "original": "a fine film", "seconds": 0.1}
    path = tmp_path / "a.jsonl"
    path.write_text(json.dumps({"advtext_attack": {"method": "greedy"}}) + "\n" + json.dumps({**good, **record}) + "\n")
    one_line_error(*cli("stats", path)[::2], needle)


def test_attack_file_with_a_broken_header_or_duplicate_records(cli, small_clf, tmp_path):
    run, _ = small_clf
    texts = tmp_path / "t.txt"
    texts.write_text("a fine film\n")
    out = tmp_path / "a.jsonl"
    out.write_text(json.dumps({"advtext_attack": 5}) + "\n")
    one_line_error(*cli("attack", run, "--input", texts, "--out", out)[::2], "holds no configuration")
    record = {"id": 0, "status": "failed", "label": 1, "length": 3, "words_changed": 0, "changes": [],
              "original": "a fine film", "seconds": 0.1}
    out.write_text(json.dumps({"advtext_attack": {"method": "greedy"}}) + "\n" + 2 * (json.dumps(record) + "\n"))
    one_line_error(*cli("stats", out)[::2], "two records of text 0")


def test_stats_says_when_the_last_line_was_cut_and_refuses_negative_examples(cli, tmp_path):
    record = {"id": 0, "status": "failed", "label": 1, "length": 3, "words_changed": 0, "changes": [],
              "original": "a fine film", "seconds": 0.1, "forwards": 1, "backwards": 1}
    path = tmp_path / "a.jsonl"
    whole = json.dumps({"advtext_attack": {"method": "greedy"}}) + "\n" + json.dumps(record) + "\n"
    path.write_text(whole + json.dumps({**record, "id": 1})[:30])
    code, out, err = cli("stats", path, "--json")
    assert code == 0 and json.loads(out)["records"] == 1 and "last line" in err and "cut short" in err
    path.write_text(whole)
    code, out, err = cli("stats", path, "--json")
    assert code == 0 and "cut short" not in err
    one_line_error(*cli("stats", path, "--examples", "-1")[::2], "-1")


def test_resuming_an_attack_on_other_weights_is_refused(cli, small_clf, tmp_path):
    import shutil

    import torch

    from advtext.text.classifier import TextClassifier

    run, _ = small_clf
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    texts = tmp_path / "t.txt"
    texts.write_text("a fine film\nthe plot is a dull mess\n")
    out = tmp_path / "a.jsonl"
    code, _, err = cli("attack", copy, "--input", texts, "--n", "1", "--out", out)
    assert code == 0, err
    assert json.loads(out.read_text().splitlines()[0])["advtext_attack"]["weights_sha256"]
    retrained = TextClassifier.load(copy, "cpu")
    with torch.no_grad():
        retrained.model.fc.bias += 0.5
    retrained.save(copy)  # as `train --overwrite` would leave it: same folder, other weights
    one_line_error(*cli("attack", copy, "--input", texts, "--n", "1", "--out", out)[::2], "begun on other weights")
    assert len(out.read_text().splitlines()) == 2  # nothing written to it


def test_eval_on_your_own_file_uses_all_of_it_and_says_so(cli, small_clf, rotten, tmp_path):
    run, _ = small_clf
    path = tmp_path / "held_out.jsonl"
    rows = zip(rotten["test"]["text"][:200], rotten["test"]["label"][:200])
    path.write_text("".join(json.dumps({"text": t, "label": y}) + "\n" for t, y in rows))
    code, out, err = cli("eval", run, "--corpus", path, "--json")
    assert code == 0 and json.loads(out)["n"] == 200 and "--split all" in err
    code, out, err = cli("eval", run, "--corpus", path, "--split", "test", "--json")
    assert code == 0 and json.loads(out)["n"] == 20
    code, out, err = cli("eval", run, "--input", path, "--json")
    assert code == 0 and json.loads(out)["n"] == 200
    code, out, err = cli("eval", run, "--corpus", "rotten-tomatoes", "--json")
    assert code == 0 and json.loads(out)["n"] == len(rotten["test"]) and "--split all" not in err


def test_csv_with_an_unterminated_quote_names_the_quoting(cli, tmp_path):
    f = tmp_path / "d.csv"
    f.write_text('text,label\ngood film,1\n"a quote left open,0\nbad film,0\nfine,1\n')
    one_line_error(*cli("train", "--corpus", f, "--out", tmp_path / "r")[::2], "line 3", "never closes")


def test_hf_datasets_are_read_from_this_machine_only(cli, tmp_path):
    """No hub download: an id that is not in the local cache fails with the way out; a saved folder is read."""
    import os

    one_line_error(*cli("train", "--corpus", "hf:no-such-user/no-such-dataset", "--out", tmp_path / "r")[::2],
                   "never downloads", "CSV/JSONL")
    assert os.environ["HF_HUB_OFFLINE"] == os.environ["HF_DATASETS_OFFLINE"] == "1"  # set by importing advtext
    import datasets

    folder = tmp_path / "saved"
    datasets.DatasetDict({"train": datasets.Dataset.from_dict({"sentence": ["good", "bad"] * 30,
                                                                "y": [1, 0] * 30})}).save_to_disk(str(folder))
    one_line_error(*cli("train", "--corpus", f"hf:{folder}", "--out", tmp_path / "r")[::2], "no column 'text'")
    code, _, err = cli("train", "--corpus", f"hf:{folder}", "--text-column", "sentence", "--label-column", "y",
                       "--epochs", "1", "--out", tmp_path / "r")
    assert code == 0, err
