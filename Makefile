# make test / make demo create .venv on first use.
# TORCH_SPEC: the torch requirement installed before the project. The default pins a release whose CPU wheel
# is available locally on the project machines; users with a CUDA build already in .venv keep it
# (torch is installed only when it cannot be imported), or pass e.g. TORCH_SPEC=torch.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
TORCH_SPEC ?= torch==2.13.0
STAMP := $(VENV)/.installed

.PHONY: test demo bench lint clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/python -m pip install -q "$(TORCH_SPEC)"
	$(BIN)/python -m pip install -q -e ".[dev]"
	touch $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest -q

# The four methods on real CIFAR-10 images (the embedded subset; DATA_ROOT=DIR for your own CIFAR-10), two
# one-thread runs at a time (DEMO_JOBS), HEP-NAS first as the longest.
DEMO_JOBS ?= 2
DATA_ROOT ?=
demo: $(STAMP)
	$(BIN)/nas-harness compare --algorithms hepnas,spos,fewshot,darts --space nb201 --dataset cifar10 \
		--preset demo --seeds 0 --jobs $(DEMO_JOBS) --threads 1 --out runs/demo $(if $(DATA_ROOT),--data-root $(DATA_ROOT))

# -s: each benchmark prints its before/after and reference figures (pytest-benchmark's table alone hides them).
bench: $(STAMP)
	$(BIN)/python -m pip install -q --no-deps xautodl==1.0.0
	$(BIN)/python -m pytest -q -s -m benchmark tests/benchmarks --benchmark-enable

lint: $(STAMP)
	$(BIN)/ruff check harness algorithms reports tests

clean:
	rm -rf $(VENV) runs .pytest_cache .benchmarks
