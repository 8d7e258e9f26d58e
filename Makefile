# Two commands from a fresh clone: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

export DAGSTER_HOME := $(CURDIR)/.sfns/dagster_home

.PHONY: install test lint demo clean proto bench

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml setup.py
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

lint: install
	$(BIN)/ruff check .

test: lint
	$(BIN)/pytest -n 2 -q

# Timing figures (bench/README.md): each benchmark prints its table and the command that reproduces it.
bench: install
	$(BIN)/python -m bench.customer_sync
	$(BIN)/python -m bench.invoice_window
	$(BIN)/python -m bench.sandbox_wire

# Regenerate the Pub/Sub API stubs; paths are package-relative so the grpc module imports the pb2 by package.
proto: install
	$(BIN)/python -m grpc_tools.protoc -I . --python_out=. --grpc_python_out=. \
		sfns_pipeline/salesforce/proto/pubsub_api.proto

demo: install
	mkdir -p $(DAGSTER_HOME)
	cp dagster.yaml $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/sfns demo

clean:
	rm -rf $(VENV) .sfns .pytest_cache .ruff_cache
