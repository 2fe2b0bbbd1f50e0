# The two commands of the README: `make demo` and `make test` (and `make bench`).
# Each creates .venv when it is missing and installs emosketch with its dev extra into it.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
DEMO_OUT ?= demo-out
BENCH_OUT ?= bench-out

.PHONY: install demo test test-all bench lint clean

install: $(STAMP)

$(STAMP): setup.cfg pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/emosketch demo --out $(DEMO_OUT)

test: $(STAMP)
	$(PY) -m pytest -q

test-all: $(STAMP)
	$(PY) -m pytest -q -m ''

bench: demo
	$(PY) benchmarks/export.py --out $(BENCH_OUT)
	$(PY) benchmarks/prepare.py --out $(BENCH_OUT)
	$(PY) benchmarks/classifier.py --out $(BENCH_OUT)
	$(PY) benchmarks/players.py --out $(BENCH_OUT)
	$(PY) benchmarks/interpolate.py --out $(BENCH_OUT) --checkpoint $(DEMO_OUT)/run/checkpoint.pt \
		--data $(DEMO_OUT)/data/synthetic-64

lint: $(STAMP)
	$(VENV)/bin/ruff check emosketch tests benchmarks

clean:
	rm -rf $(VENV) $(DEMO_OUT) $(BENCH_OUT) .pytest_cache *.egg-info
