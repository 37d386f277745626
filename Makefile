# CloudMart — `make up` runs it, `make test` tests it. Everything else is a helper of those two.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: up test venv servers lint bench clean

up: venv
	$(BIN)/cloudmart up

test:
	bash scripts/test.sh

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	bash scripts/venv.sh
	@touch $@

servers:
	bash scripts/install-servers.sh

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
