# rlkit: the two README commands are `make demo` and `make test`; the rest are their parts.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip
EXTRAS ?= dev,distributed,box2d,docs,video
export RLKIT_DATA ?= $(abspath ../shared/data)
export MPLBACKEND ?= Agg

.PHONY: install demo test test-fast lint bench docs docs-serve mutate clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

# Reinstall only when the metadata or the pins change.
$(VENV)/.installed: $(BIN)/python pyproject.toml constraints.txt
	$(PIP) install --quiet -c constraints.txt -e ".[$(EXTRAS)]"
	$(PIP) install --quiet --no-deps -c constraints.txt jupyter-server-mathjax  # see pyproject's docs extra
	touch $@

install: $(VENV)/.installed

demo: install
	@echo "== rlkit solve-mdp student-mdp (exact optimum of D. Silver's student MDP)"
	$(BIN)/rlkit solve-mdp student-mdp
	@echo "== rlkit solve-mdp gym:FrozenLake-v1 (value iteration on Gymnasium's model)"
	$(BIN)/rlkit solve-mdp gym:FrozenLake-v1 --method value-iteration --gamma 0.99
	@if $(BIN)/rlkit train --help >/dev/null 2>&1; then \
		echo "== rlkit train --env CartPole-v1 (REINFORCE with its preset)"; \
		$(BIN)/rlkit train --env CartPole-v1 --seed 0; \
	fi

test: install
	$(BIN)/python -m pytest -q

test-fast: install
	$(BIN)/python -m pytest -q -m "not slow"

lint: install
	$(BIN)/ruff check rlkit tests benchmarks notebooks

bench: install
	$(PIP) install --quiet -c constraints.txt -e ".[$(EXTRAS),bench]"
	$(BIN)/python benchmarks/mdp.py
	@for b in tabular mnist reinforce compare; do \
		if [ -f benchmarks/$$b.py ]; then $(BIN)/python benchmarks/$$b.py || exit 1; fi; \
	done

# The documentation site, into site/: --strict fails on a broken link or an unresolved reference;
# the notebooks are executed at build time (RLKIT_DOCS_EXECUTE=false shows their stored outputs).
export RLKIT_DOCS_EXECUTE ?= true
docs: install
	$(BIN)/mkdocs build --strict --site-dir site

docs-serve: install
	$(BIN)/mkdocs serve


# Mutation testing of the core modules (pyproject's [tool.mutmut]); CPU heavy, not part of CI.
# One part: `make mutate MUTANTS='rlkit.mdp.dp.*'`; then `mutmut results`, `mutmut show NAME`.
# One OpenMP thread per worker: mutmut stops a mutant after a budget of CPU time, which torch's
# threads used up (every mutant of the REINFORCE update "timed out" with the default threads on a
# busy 2-core machine; with one thread they ran in a fraction of a second each).
MUTANTS ?=
MUTATE_JOBS ?= 2
mutate: install
	$(PIP) install --quiet -c constraints.txt -e ".[$(EXTRAS),mutate]"
	OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 nice -n 19 $(BIN)/mutmut run --max-children $(MUTATE_JOBS) $(MUTANTS)
	$(BIN)/mutmut results


clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .ruff_cache site mutants
