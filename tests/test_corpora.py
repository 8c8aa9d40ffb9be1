import json

from advtext.text.corpora import load_corpus


def test_imdb_official_split_is_25k_25k_and_balanced():
    imdb = load_corpus("imdb")
    assert len(imdb["train"]) == 25000 and len(imdb["test"]) == 25000
    for split in ("train", "test"):
        assert sum(imdb[split]["label"]) == 12500
    # the blocks: train starts with train-neg, whose first review the package stores at index 12500
    raw = json.loads(open(__import__("advtext.paths").paths.data_dir() / "imdb" / "reviews.json").read())
    assert imdb["train"][0]["text"][:80] == raw[12500]["t"][:80]
    assert imdb["train"][0]["label"] == 0 and imdb["train"][24999]["label"] == 1
    assert not any("<br" in t for t in imdb["test"]["text"][:2000])


def test_rotten_tomatoes_is_deduplicated_and_split_with_the_seed(rotten):
    sizes = {k: len(v) for k, v in rotten.items()}
    assert set(sizes) == {"train", "validation", "test"}
    total = sum(sizes.values())
    assert 12000 < total < 12808  # 12,808 non-plot rows before duplicates are dropped
    texts = [t for split in rotten.values() for t in split["text"]]
    assert len(set(texts)) == len(texts)
    again = load_corpus("rotten-tomatoes", seed=0)
    assert again["test"]["text"][:5] == rotten["test"]["text"][:5]
    assert load_corpus("rotten-tomatoes", seed=1)["test"]["text"][:5] != rotten["test"]["text"][:5]


def test_user_csv_and_jsonl(tmp_path):
    csv = tmp_path / "d.csv"
    csv.write_text("review,stars\n" + "".join(f"text number {i},{i % 3}\n" for i in range(30)))
    ds = load_corpus(str(csv), text_column="review", label_column="stars")
    assert set(ds) == {"train", "validation", "test"}
    assert sorted(set(ds["train"]["label"])) == [0, 1, 2]
    jl = tmp_path / "d.jsonl"
    jl.write_text("".join(json.dumps({"text": f"t {i}", "label": i % 2}) + "\n" for i in range(20)))
    assert sum(len(v) for v in load_corpus(str(jl)).values()) == 20


def test_jsonl_strings_may_hold_unicode_line_separators(tmp_path):
    from advtext.text.corpora import read_records

    rows = [{"text": "first\u2028still the first", "label": 1}, {"text": "next\x85line", "label": 0},
            {"text": "plain", "label": 1}]
    path = tmp_path / "tweets.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    assert read_records(path) == rows
    path.write_text(path.read_text(encoding="utf-8") + "{broken\n", encoding="utf-8")
    import pytest

    from advtext.errors import AdvtextError

    with pytest.raises(AdvtextError, match="line 4 is not valid JSON"):
        read_records(path)
