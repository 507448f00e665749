# hrm-workbench: `make demo` (train + evaluate on CPU, offline) and `make test`.
SHELL := /bin/bash
VENV  ?= .venv
PY    := $(VENV)/bin/python
# A pinned torch: on a CPU-only machine pip takes the local CPU wheel; on a CUDA machine the CUDA
# build. Override with `make install TORCH="torch==2.x.y"` or TORCH= to keep what is installed.
TORCH ?= torch==2.13.0
NB_EXTRA := --extra-keys "metadata.papermill cell.metadata.papermill metadata.language_info"

.PHONY: install test test-fast demo strip clean-venv

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q $(TORCH)
	$(PY) -m pip install -q -e ".[dev]"
	-git config filter.nbstripout.clean '$(abspath $(PY)) -m nbstripout $(NB_EXTRA)' 2>/dev/null
	-git config filter.nbstripout.smudge cat 2>/dev/null
	-git config filter.nbstripout.required true 2>/dev/null
	touch $@

# The README's test command. pytest's exit 5 ("no tests collected") is not a failure of ours.
test: install
	shopt -s nullglob; nbs=(notebooks/*.ipynb); if [ $${#nbs[@]} -gt 0 ]; then $(PY) -m nbstripout --verify $(NB_EXTRA) "$${nbs[@]}"; fi
	$(PY) -m ruff check hrmlib tests
	OMP_NUM_THREADS=2 $(PY) -m pytest -q --durations=20 tests; rc=$$?; if [ $$rc -eq 5 ]; then echo "no tests collected"; rc=0; fi; exit $$rc

# While working: the suite without the slow tests (real kills, signals, multi-process runs, notebooks, browser).
test-fast: install
	OMP_NUM_THREADS=2 $(PY) -m pytest -q -m "not slow and not browser" tests

# The main job: build a dataset offline, train through the papermill notebook, evaluate, look inside.
# PRESET: demo (a TRM on Sudoku, the default), demo_maze (a TRM on generated 9x9 mazes) or demo_hrm (the HRM demo).
# DEMO_ARGS: config overrides for the demo's training, e.g. make demo DEMO_ARGS="seed=1"
PRESET ?= demo
DEMO_ARGS ?=
ifndef DEMO_RUN
DEMO_RUN := runs/$(PRESET)-$(shell date +%Y%m%d-%H%M%S)
endif
demo: install
	@echo "== 1/4 building the $(PRESET) preset's dataset with the built-in generator (offline)"
	$(PY) -m hrmlib.launch data $(PRESET)
	@echo "== 2/4 training $(PRESET) through notebooks/02_train.ipynb (papermill) → $(DEMO_RUN)"
	launch/notebook notebooks/02_train.ipynb preset=$(PRESET) run_dir=$(abspath $(DEMO_RUN)) $(DEMO_ARGS)
	@echo "== 3/4 evaluating the last checkpoint"
	$(PY) -m hrmlib.evaluate checkpoint=$(DEMO_RUN)
	@echo "== 4/4 looking inside: notebooks 03-05 executed on the demo run"
	for nb in 03_evaluate 04_internals 05_replay; do launch/notebook notebooks/$$nb.ipynb run=$(abspath $(DEMO_RUN)) || exit 1; done
	@echo "== done. Look at:"
	@echo "   $(DEMO_RUN)/02_train.ipynb       the executed training notebook"
	@echo "   $(DEMO_RUN)/learning_curve.png   loss and exact accuracy"
	@echo "   $(DEMO_RUN)/diagnostics.png      gradient and parameter norms, halting, throughput"
	@echo "   $(DEMO_RUN)/eval/                predictions and metrics.json"
	@echo "   $(DEMO_RUN)/0[3-5]_*.ipynb       evaluation, H/L internals, step-by-step replay"
	@echo "   make lab                          to open the notebooks in JupyterLab"

# Strip outputs and metadata from the notebooks in place (what the git filter does on commit).
strip: install
	$(PY) -m nbstripout $(NB_EXTRA) notebooks/*.ipynb

clean-venv:
	rm -rf $(VENV)

# ---- Looking inside (issue 5): JupyterLab with the project's kernel, and the real-browser test.
# `make lab` serves the project on 127.0.0.1 with a token (printed in the URL); the venv is
# registered as the `python3` kernel (the notebooks' kernelspec), so widgets render there.
LAB_IP   ?= 127.0.0.1
LAB_PORT ?= 8888
LAB_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root,)

.PHONY: lab test-browser

lab: install
	$(PY) -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (hrm-workbench)" >/dev/null
	$(VENV)/bin/jupyter lab --no-browser --ip $(LAB_IP) --port $(LAB_PORT) --ServerApp.root_dir=$(CURDIR) $(LAB_ROOT)

# JupyterLab + headless Debian Chromium (/usr/bin/chromium) + Playwright; screenshots in test-output/browser/.
test-browser: install
	OMP_NUM_THREADS=2 $(PY) -m pytest -q -rs -m browser tests/test_browser.py tests/test_browser_live.py tests/test_browser_maze.py
