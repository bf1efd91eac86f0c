# Two entry points work on a fresh machine: `make demo` and `make test`. Each creates .venv when missing.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# A CPU build of torch is enough for the toolkit; override for a CUDA machine (e.g. TORCH_SPEC=torch).
TORCH_SPEC ?= torch==2.13.0
SHARED ?= $(abspath ../shared)
# Real third-party weights live outside the repository; point the model registry at them when present.
ifneq ($(wildcard $(SHARED)/models),)
export REIDKIT_MODEL_DIR ?= $(SHARED)/models
endif
export OMP_NUM_THREADS ?= 2
DEMO_OUT ?= demo-out

.PHONY: demo test lint typecheck bench clean setup setup-dev

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# The search path: no torch.
$(VENV)/.base-installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e .
	touch $@

# Everything for tests, training and evaluation.
$(VENV)/.dev-installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q "$(TORCH_SPEC)"
	# scale (Ray) too: its tests take ~10 s on 2 cores, and skip when it is missing.
	$(BIN)/python -m pip install -q -e '.[dev,train,eval,scale,app]'
	# TrackEval (HOTA) declares opencv-python, which clashes with the headless build: install it alone.
	$(BIN)/python -m pip install -q --no-deps trackeval
	touch $(VENV)/.base-installed $@

setup: $(VENV)/.base-installed
setup-dev: $(VENV)/.dev-installed

demo: $(VENV)/.base-installed
	$(BIN)/python -m reidkit.demo --shared $(SHARED) --out $(DEMO_OUT)

test: $(VENV)/.dev-installed
	$(BIN)/python -m pytest -q

lint: $(VENV)/.dev-installed
	$(BIN)/ruff check reidkit tests bench
	$(BIN)/ruff format --check reidkit tests bench
	$(BIN)/mypy reidkit

bench: $(VENV)/.dev-installed
	$(BIN)/python bench/index_speed.py
	$(BIN)/python bench/eval_speed.py

clean:
	rm -rf $(VENV) $(DEMO_OUT) build *.egg-info
