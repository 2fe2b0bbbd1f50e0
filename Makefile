# The two commands of the README: `make demo` and `make test` (and `make bench`).
# Each creates .venv when it is missing and installs emosketch with its dev extra into it.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
DEMO_OUT ?= demo-out
TRAIN_DEMO_OUT ?= demo-train
BENCH_OUT ?= bench-out

.PHONY: install demo test test-all bench model gpu-data lint clean browser micropython docs clang cross fuzz mutate

install: $(STAMP)

$(STAMP): setup.cfg pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -e '.[dev,lpips]'
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/emosketch demo --out $(DEMO_OUT)

test: $(STAMP)
	$(PY) -m pytest -q

test-all: $(STAMP)
	$(PY) -m pytest -q -m ''

bench: demo
	$(VENV)/bin/emosketch demo --train --out $(TRAIN_DEMO_OUT)
	$(PY) benchmarks/export.py --out $(BENCH_OUT)
	$(PY) benchmarks/prepare.py --out $(BENCH_OUT)
	$(PY) benchmarks/facecrop.py --out $(BENCH_OUT)
	$(PY) benchmarks/classifier.py --out $(BENCH_OUT)
	$(PY) benchmarks/players.py --out $(BENCH_OUT)
	$(PY) benchmarks/stylegan2.py --out $(BENCH_OUT)
	$(PY) benchmarks/interpolate.py --out $(BENCH_OUT) --checkpoint $(TRAIN_DEMO_OUT)/run/checkpoint.pt \
		--data $(TRAIN_DEMO_OUT)/data/synthetic-64
	$(PY) benchmarks/realfaces.py --out $(BENCH_OUT) --generator shipped=emosketch/models/generator-fer6-coarse-64.pt
	$(VENV)/bin/emosketch slim emosketch/models/generator-fer6-coarse-64.pt --draw-size 128 --out $(BENCH_OUT)/g128.pt
	$(PY) benchmarks/realfaces.py --out $(BENCH_OUT) --size 128 --cnn-judges A \
		--generator shipped-64=emosketch/models/generator-fer6-coarse-64.pt --generator lift-128=$(BENCH_OUT)/g128.pt
	$(PY) benchmarks/panel.py --out $(BENCH_OUT)
	$(PY) benchmarks/search.py --out $(BENCH_OUT)
	$(PY) benchmarks/serve.py --out $(BENCH_OUT)
	$(PY) benchmarks/serve.py --out $(BENCH_OUT) --memory --threads 1

# Reproduces the 64 px generator (emosketch.models.generator_64()) from the FER+ faces in FERPLUS (about 2 h 50 min
# on one CPU core: the guides about 7 min; training 87 min, then two fine-tunes of 38 and 36 min). The 128 px
# default's chain of configs, guides and fine-tunes is in docs/model-card.md.
FERPLUS ?= ../shared/data/ferplus
model: $(STAMP)
	test -f data/fer6-64/meta.json || $(VENV)/bin/emosketch prepare --source ferplus:$(FERPLUS) --size 64 \
		--classes neutral,happy,sad,surprise,fear,anger --out data/fer6-64 -j 2
	test -f runs/fer6-guide.pt || $(VENV)/bin/emosketch classifier train --data data/fer6-64 \
		--config configs/classifier-guide.yaml --out runs/fer6-guide.pt
	test -f runs/fer6-guide-coarse.pt || $(VENV)/bin/emosketch classifier train --data data/fer6-64 \
		--config configs/classifier-guide-coarse.yaml --out runs/fer6-guide-coarse.pt
	$(VENV)/bin/emosketch train --config configs/train-ferplus-coarse-8k.yaml --data data/fer6-64 --out runs/fer6-coarse8k \
		$$(test -f runs/fer6-coarse8k/checkpoint.pt && echo --resume)
	$(VENV)/bin/emosketch train --config configs/train-ferplus-jitter-ft.yaml --data data/fer6-64 --out runs/fer6-jitter-ft \
		$$(test -f runs/fer6-jitter-ft/checkpoint.pt && echo --resume)
	$(VENV)/bin/emosketch train --config configs/train-ferplus-jitterbend-ft.yaml --data data/fer6-64 --out runs/fer6-jitterbend-ft \
		$$(test -f runs/fer6-jitterbend-ft/checkpoint.pt && echo --resume)
	$(VENV)/bin/emosketch slim runs/fer6-jitterbend-ft/checkpoint.pt --out emosketch/models/generator-fer6-coarse-64.pt \
		--note "make model: configs/train-ferplus-coarse-8k.yaml, then train-ferplus-jitter-ft.yaml and train-ferplus-jitterbend-ft.yaml, on FER+ train, six emotions, 64 px" --photo-margin 0.1

# The carried data of the 128 px generator's GPU run (tools/gpu128.sh): FER+ train and valid as 128 px
# sketches, bit-packed into .gpu/fer6-128.npz (17 MB; the device gets the tree, never ../shared). Then
# on a lent GPU: run `BUDGET=300 bash tools/gpu128.sh` with .gpu carried (docs/model-card.md).
gpu-data: $(STAMP)
	test -f data/fer6-128/meta.json || $(VENV)/bin/emosketch prepare --source ferplus:$(FERPLUS) --size 128 \
		--classes neutral,happy,sad,surprise,fear,anger --out data/fer6-128 -j 2
	$(PY) tools/gpu128.py pack --data data/fer6-128 --out .gpu/fer6-128.npz

# Debian's chromium for the browser tests (tests/test_browser.py); they skip without it.
# Playwright drives this build; nothing downloads a browser.
browser:
	command -v chromium >/dev/null 2>&1 || { \
	  SUDO=$$(test "$$(id -u)" = 0 || echo sudo); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; }

# Real MicroPython (its official WebAssembly port, from the npm registry) for the tests that run the
# MicroPython player on it (tests/test_micropython_board.py) and benchmarks/players.py; they skip without it.
micropython:
	command -v node >/dev/null 2>&1 && cd tools/micropython && npm ci --no-audit --no-fund --silent

# Debian's clang, whose libFuzzer (-fsanitize=fuzzer) runs the C player over mutated packs
# (tests/test_player_damage.py: 25 s in `make test`, 10 minutes in `make test-all`); they skip without it.
clang:
	command -v clang >/dev/null 2>&1 || { \
	  SUDO=$$(test "$$(id -u)" = 0 || echo sudo); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq clang >/dev/null; }

# Debian's cross-compilers: avr-gcc, avr-libc and simavr for an Uno's ATmega328P, and arm-none-eabi-gcc for a
# Cortex-M0+, for the tests that build the player for them (its code size, and a context-coded pack's refusal of
# ES_WITHOUT_CTX) and benchmarks/players.py's sizes and AVR decode times; they skip without them.
cross:
	{ command -v avr-gcc && command -v simavr && command -v arm-none-eabi-gcc; } >/dev/null 2>&1 || { \
	  SUDO=$$(test "$$(id -u)" = 0 || echo sudo); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends \
	    gcc-avr avr-libc simavr gcc-arm-none-eabi >/dev/null; }

# The long libFuzzer run alone: FUZZ_SECONDS of it, with the executions counted.
FUZZ_SECONDS ?= 600
fuzz: $(STAMP) clang
	EMOSKETCH_FUZZ_SECONDS=$(FUZZ_SECONDS) $(PY) -m pytest -q -m slow tests/test_player_damage.py -k libfuzzer

# mutmut over the guard code (the pack decoder, the checkpoint checks, serve's limits, the StyleGAN2
# unpickler), a module at a time in a scratch copy, with the tests that guard it; scores and surviving
# mutants in $(MUTATE_OUT). Not part of `make test` (minutes to tens of minutes a module).
# MUTATE=serve-limits mutates only serve's guards: 245 of serve/app.py's and engine.py's 1,846 mutants.
MUTATE ?=
MUTATE_OUT ?= mutate-out
mutate: $(STAMP)
	$(PY) tools/mutate.py $(MUTATE) --out $(MUTATE_OUT)

# The documentation site from docs/ and the docstrings, into site/ (offline; open site/index.html).
# --strict: a broken link, a missing picture or a broken API reference fails the build.
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --site-dir site

lint: $(STAMP)
	$(VENV)/bin/ruff check emosketch tests benchmarks tools docs/pictures.py docs/serve_page.py

clean:
	rm -rf $(VENV) tools/micropython/node_modules $(DEMO_OUT) $(TRAIN_DEMO_OUT) $(BENCH_OUT) site .pytest_cache *.egg-info
