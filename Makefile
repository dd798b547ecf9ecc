# The two commands of the README: `make demo` (whole default DAG on CPU + report) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CORES ?= 2

.PHONY: install sysdeps demo report test lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --no-cache-dir -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

sysdeps:
	bash scripts/install_system_deps.sh

demo: $(STAMP)
	$(BIN)/snakemake --cores $(CORES)
	$(MAKE) report

report: $(STAMP)
	$(BIN)/snakemake --cores $(CORES) --report results/report.html
	$(BIN)/snakemake --cores $(CORES) --report results/report.zip

test: $(STAMP) sysdeps
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/snakemake --lint

bench: $(STAMP)
	$(BIN)/python benchmarks/dag_scale.py
	$(BIN)/python benchmarks/preprocess_speed.py

clean:
	rm -rf results logs data .snakemake
