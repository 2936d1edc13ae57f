# `make demo` and `make test` work from a fresh clone on a bare machine:
# they create (or reuse) .venv, install lrfr with its dependencies, then run.
PYTHON ?= python3
VENV   ?= .venv
PY      = $(VENV)/bin/python
PIP     = $(PY) -m pip
# Known-good versions for CI and the demo; pyproject.toml itself pins no torch.
TORCH_PINS ?= torch==2.14.1 torchvision==0.29.1 facenet-pytorch==2.5.3
STAMP   = $(VENV)/.lrfr-installed

.PHONY: install demo test test-fast test-wheel bench clean

install: $(STAMP)

$(STAMP): pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q $(TORCH_PINS)
	$(PIP) install -q -e '.[dev]'
	$(PY) -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $(STAMP)

demo: install
	$(VENV)/bin/lrfr demo --out lrfr-demo

# The whole suite, including tests/test_wheel.py: it builds the wheel, installs it (not editable)
# into a fresh venv and runs `lrfr evaluate` from it, so packaging breaks CI too.
test: install
	$(PY) -m pytest -q -ra --durations=15

# What to run while editing: no slow tests, no real data, no wheel build.
test-fast: install
	$(PY) -m pytest -q -ra -m "not slow and not realdata"

test-wheel: install
	$(PY) -m pytest -q -ra -m wheel

bench: install
	$(VENV)/bin/lrfr bench all --out runs/bench

clean:
	rm -rf $(VENV) lrfr-demo runs build *.egg-info
