"""Every JSON/JSONL file advtext writes and every --json it prints is strict JSON: no NaN or Infinity
(Python's json writes them by default; other parsers refuse them), also where a figure is undefined; and
every attack record, text or image, follows one JSON Schema (schema/attack-record.schema.json)."""

import json
import traceback
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner

from advtext.cli import cli

SMALL = ["--epochs", "1", "--max-len", "30", "--embed-dim", "16", "--hidden-size", "16", "--vocab-size", "3000"]


def strict_loads(text: str):
    """json.loads that raises on NaN, Infinity and -Infinity."""
    return json.loads(text, parse_constant=lambda c: (_ for _ in ()).throw(ValueError(f"not JSON: {c}")))


def strict_file(path: Path):
    """A .json file's value, or a .jsonl file's rows (at least one), parsed strictly."""
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".jsonl":
        rows = [strict_loads(line) for line in text.splitlines() if line.strip()]
        assert rows, path
        return rows
    return strict_loads(text)


def json_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.suffix in (".json", ".jsonl"))


def invoke(*args) -> str:
    """Run the CLI in-process; its stdout (a failure shows stderr and the traceback)."""
    result = CliRunner().invoke(cli, [str(a) for a in args])
    detail = "".join(traceback.format_exception(*result.exc_info)) if result.exc_info else ""
    assert result.exit_code == 0, f"{args}\n{result.stderr}\n{detail}"
    return result.stdout


@pytest.fixture(scope="module")
def text_runs(rotten, tmp_path_factory):
    """A tiny LSTM trained for one epoch on 800 snippets, and the same hardened for one epoch."""
    import csv

    root = tmp_path_factory.mktemp("strict")
    corpus = root / "rt.csv"
    with open(corpus, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["text", "label"])
        writer.writerows(zip(rotten["train"]["text"][:800], rotten["train"]["label"][:800]))
    invoke("train", "--corpus", corpus, *SMALL, "--out", root / "run")
    invoke("harden", "--corpus", corpus, "--from", root / "run", "--epochs", "1", "--out", root / "hard")
    return root, corpus


def test_run_directories_are_strict_json(text_runs):
    """config.json (history, test report), vocab.json and any other JSON of a trained and a hardened run."""
    root, _ = text_runs
    for name in ("run", "hard"):
        files = json_files(root / name)
        assert {"config.json", "vocab.json"} <= {p.name for p in files}
        values = {p.name: strict_file(p) for p in files}
        assert values["config.json"]["history"] and values["config.json"]["test"]["n"] > 0
    assert "hardening" in strict_file(root / "hard" / "config.json")


def test_eval_json_is_strict(text_runs):
    root, corpus = text_runs
    report = strict_loads(invoke("eval", root / "run", "--corpus", corpus, "--json"))
    assert report["n"] > 0 and len(report["confusion_matrix"]) == 2


def attack_and_stats(run, tmp_path, name, lines, *options):
    """Attack the lines of a .txt file; the strictly parsed records file and `stats --json`."""
    texts = tmp_path / f"{name}.txt"
    texts.write_text("\n".join(lines) + "\n")
    out = tmp_path / f"{name}.jsonl"
    invoke("attack", run, "--input", texts, *options, "--out", out)
    rows = strict_file(out)
    summary = strict_loads(invoke("stats", out, "--json"))
    assert summary["records"] == len(rows) - 1 == len(lines)
    return rows[1:], summary


def test_attack_records_and_stats_are_strict_json(text_runs, rotten, tmp_path):
    """With successes, with none (every text failed) and with no text attacked at all (all skipped)."""
    root, _ = text_runs
    run = root / "run"
    records, summary = attack_and_stats(run, tmp_path, "some", [*rotten["test"]["text"][:10], "qwxz zzqy"],
                                        "--method", "greedy")
    assert summary["succeeded"] >= 1 and summary["skipped"] >= 1
    records, summary = attack_and_stats(run, tmp_path, "failed", ["the and of it is", "it is what it is", "of the"],
                                        "--dictionary", "wordnet", "--protect-stopwords")
    assert summary["failed"] == 3 and summary["succeeded"] == 0 and summary["success_rate"] == 0
    assert summary["words_changed"]["mean"] is None
    records, summary = attack_and_stats(run, tmp_path, "skipped", ["qwxz zzqy", "zzqy"])
    assert summary["skipped"] == 2 and summary["success_rate"] is None


def test_robustness_json_and_records_are_strict(text_runs, tmp_path):
    """On real snippets, and on a corpus of stopwords only, where no attack can change a word."""
    root, corpus = text_runs
    stop = tmp_path / "stop.csv"
    stop.write_text("text,label\n" + "".join(f"{t},{i % 2}\n" for i, t in enumerate(
        ["the and of", "it is what it is", "of the", "and then there were none", "we are", "you and i",
         "over and over", "it was them", "all of us", "now or never"])))
    for name, source in (("real", corpus), ("stop", stop)):
        out = tmp_path / name
        result = strict_loads(invoke("robustness", root / "run", root / "hard", "--corpus", source, "--n", "10",
                                     "--method", "greedy,papernot", "--dictionary", "wordnet", "--out", out,
                                     "--json"))
        assert len(result["runs"]) == 2 and all(len(r["attacks"]) == 2 for r in result["runs"])
        files = json_files(out)
        assert len(files) >= 4
        for p in files:
            strict_file(p)
    figures = result["runs"][0]["attacks"]["greedy/wordnet"]
    assert figures["success_rate"] == 0 and figures["mean_words_changed"] is None


@pytest.fixture(scope="module")
def image_run(tmp_path_factory):
    """A softmax regression trained for one epoch on 500 MNIST images."""
    out = tmp_path_factory.mktemp("strict-image") / "linear"
    invoke("image", "train", "--model", "linear", "--train-size", "500", "--val-size", "100", "--epochs", "1",
           "--device", "cpu", "--out", out)
    return out


def image_attack(run, out, *options):
    invoke("image", "attack", run, "--n", "10", "--device", "cpu", "--out", out, *options)
    assert {p.name for p in json_files(out)} == {"records.jsonl", "summary.json"}
    return strict_file(out / "records.jsonl"), strict_file(out / "summary.json")


def test_image_run_and_an_l2_attack_with_successes_are_strict_json(image_run, tmp_path):
    for p in json_files(image_run):
        strict_file(p)
    records, summary = image_attack(image_run, tmp_path, "--method", "fgsm", "--norm", "2", "--eps", "1.0")
    assert any(r["status"] == "succeeded" for r in records) and summary["results"][0]["mean_l2"] > 0


def test_image_attack_linf_summary_is_strict_json(image_run, tmp_path):
    image_attack(image_run, tmp_path, "--method", "fgsm", "--eps", "0.3")


def test_image_attack_without_success_is_strict_json(image_run, tmp_path):
    records, _ = image_attack(image_run, tmp_path, "--method", "fgsm", "--norm", "2", "--eps", "0")
    assert not any(r["status"] == "succeeded" for r in records)


def test_image_eval_json_is_strict(image_run):
    report = strict_loads(invoke("image", "eval", image_run, "--n", "5", "--metric", "fgsm", "--device", "cpu",
                                 "--json"))
    assert report["robustness"]["fgsm_linf_eps"]["found"] >= 1


def test_image_eval_json_is_strict_when_no_sample_moves(image_run):
    out = invoke("image", "eval", image_run, "--n", "3", "--metric", "jsma", "--gamma", "0.002", "--device", "cpu",
                 "--json")
    assert '"found": 0' in out
    strict_loads(out)


SCHEMA = json.loads((Path(__file__).resolve().parents[1] / "schema" / "attack-record.schema.json").read_text())


def follow_the_schema(records: list[dict]) -> None:
    validator = jsonschema.Draft202012Validator(SCHEMA)
    assert records
    for r in records:
        validator.validate(r)


def test_text_records_of_every_threat_and_of_robustness_follow_the_schema(text_runs, tmp_path):
    root, corpus = text_runs
    run = root / "run"
    common = ["--corpus", corpus, "--split", "test", "--n", "10", "--method", "greedy", "--dictionary", "wordnet"]
    for k, threat in enumerate(("white-box", "oracle", f"transfer:{root / 'hard'}")):
        out = tmp_path / f"{k}.jsonl"
        invoke("attack", run, *common, "--threat", threat, "--out", out)
        follow_the_schema(strict_file(out)[1:])
    invoke("robustness", run, root / "hard", "--corpus", corpus, "--n", "10", "--method", "greedy,oracle",
           "--no-similarity", "--out", tmp_path / "robustness")
    for path in (tmp_path / "robustness").glob("*.jsonl"):
        follow_the_schema(strict_file(path)[1:])


def test_image_records_follow_the_schema(image_run, tmp_path):
    records, _ = image_attack(image_run, tmp_path / "fgsm", "--method", "fgsm", "--eps", "0.1,0.3")
    follow_the_schema(records)
    records, _ = image_attack(image_run, tmp_path / "jsma", "--method", "jsma", "--goal", "targeted:3")
    follow_the_schema(records)
    assert {r["status"] for r in records} <= {"succeeded", "failed"}


def test_the_schema_refuses_a_record_without_its_status():
    validator = jsonschema.Draft202012Validator(SCHEMA)
    good = {"id": 0, "label": 1, "status": "failed", "pred_before": 1, "probs_before": [0.2, 0.8], "pred_after": 1,
            "probs_after": [0.4, 0.6], "seconds": 0.01}
    assert validator.is_valid(good)
    assert not validator.is_valid({k: v for k, v in good.items() if k != "status"})
    assert not validator.is_valid({**good, "status": "success"})
