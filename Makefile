# hrm-workbench: `make demo` (train + evaluate on CPU, offline) and `make test`.
SHELL := /bin/bash
VENV  ?= .venv
PY    := $(VENV)/bin/python
# A pinned torch: on a CPU-only machine pip takes the local CPU wheel; on a CUDA machine the CUDA
# build. Override with `make install TORCH="torch==2.x.y"` or TORCH= to keep what is installed.
TORCH ?= torch==2.13.0
NB_EXTRA := --extra-keys "metadata.papermill cell.metadata.papermill metadata.language_info"

.PHONY: install test strip clean-venv

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q $(TORCH)
	$(PY) -m pip install -q -e ".[dev]"
	-git config filter.nbstripout.clean "$(abspath $(PY)) -m nbstripout $(NB_EXTRA)" 2>/dev/null
	-git config filter.nbstripout.smudge cat 2>/dev/null
	-git config filter.nbstripout.required true 2>/dev/null
	touch $@

# The README's test command. pytest's exit 5 ("no tests collected") is not a failure of ours.
test: install
	shopt -s nullglob; nbs=(notebooks/*.ipynb); if [ $${#nbs[@]} -gt 0 ]; then $(PY) -m nbstripout --verify $(NB_EXTRA) "$${nbs[@]}"; fi
	OMP_NUM_THREADS=2 $(PY) -m pytest -q tests; rc=$$?; if [ $$rc -eq 5 ]; then echo "no tests collected"; rc=0; fi; exit $$rc

# Strip outputs and metadata from the notebooks in place (what the git filter does on commit).
strip: install
	$(PY) -m nbstripout $(NB_EXTRA) notebooks/*.ipynb

clean-venv:
	rm -rf $(VENV)
