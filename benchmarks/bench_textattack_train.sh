#!/usr/bin/env bash
# Seconds per epoch of TextAttack 0.3.11 adversarial training (textattack.Trainer, what
# `textattack train --attack` runs) on Rotten Tomatoes, beside `advtext harden`.
#
#   bash benchmarks/bench_textattack_train.sh [ADV_EXAMPLES] [EPOCHS]   # defaults 150 2; ADV_EXAMPLES -1 = all
#
# Re-runnable; done steps are skipped.  Everything of the peer lives under $PEERS_ROOT (default
# benchmarks/.peers, git-ignored), shared with bench_peers.sh:
# 1. venv-ta: TextAttack 0.3.11 with the harness's pip commands (torch pinned first);
# 2. offline NLTK stopword list for `import textattack` (the harness's list, written by its prepare_data.py
#    module); WordNet comes from advtext's data/nltk;
# 3. advtext's Rotten Tomatoes split exported from advtext's venv;
# 4. benchmarks/textattack_train.py run (peer venv) -> benchmarks/results/textattack_train.md.
set -euo pipefail
ADV=${1:-150}
EPOCHS=${2:-2}
REPO=$(cd "$(dirname "$0")/.." && pwd)
export PEERS_HARNESS=${PEERS_HARNESS:-$(cd "$REPO/../shared/peers" && pwd)}
export PEERS_ROOT=${PEERS_ROOT:-$REPO/benchmarks/.peers}
mkdir -p "$PEERS_ROOT/logs"
cd "$PEERS_ROOT"
PY=$PEERS_ROOT/venv-ta/bin/python

if [ ! -f venv-ta/.bench-installed ]; then
  [ -x venv-ta/bin/python ] || python3.11 -m venv venv-ta
  venv-ta/bin/pip install torch==2.13.0
  venv-ta/bin/pip install textattack==0.3.11 torch==2.13.0 "transformers>=4.30,<5"
  touch venv-ta/.bench-installed
fi

SW=data/nltk_data/corpora/stopwords/english
if [ ! -f "$SW" ]; then
  mkdir -p "$(dirname "$SW")"
  (cd "$PEERS_HARNESS" && "$PY" -c \
    'import sys, prepare_data as p; open(sys.argv[1], "w").write("\n".join(p.NLTK_ENGLISH_STOPWORDS) + "\n")' \
    "$PEERS_ROOT/$SW")
fi

cd "$REPO"
[ -f "$PEERS_ROOT/data/rt_advtext.json" ] || .venv/bin/python benchmarks/textattack_train.py export-rt
LOG=$PEERS_ROOT/logs/textattack_train.log
echo "== $PY benchmarks/textattack_train.py run --adv-examples $ADV --epochs $EPOCHS  (progress bars: $LOG)"
start=$(date +%s)
"$PY" benchmarks/textattack_train.py run --adv-examples "$ADV" --epochs "$EPOCHS" 2> "$LOG" \
  || { tail -30 "$LOG"; exit 1; }
echo "== done in $(( $(date +%s) - start )) s"
