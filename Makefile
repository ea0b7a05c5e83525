# The two commands of the README: `make demo` and `make test`. Both install what they need.
PYTHON ?= python3
UV := $(shell command -v uv 2>/dev/null)
ifeq ($(UV),)
UV := $(PYTHON) -m uv
endif
DEMO_ARGS ?=
PYTEST_ARGS ?=

.PHONY: install infra-up infra-down browser prometheus demo test lint format clean

install:  ## the Python environment (.venv) from the lock file
	@$(UV) --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet uv
	$(UV) sync --frozen

infra-up: install  ## Kafka and PostgreSQL (Docker Compose, or local processes)
	$(UV) run followback infra up

infra-down:
	$(UV) run followback infra down

browser: install  ## Chromium for the browser tests (Debian's package, when missing)
	$(UV) run python -m followback.infra.browser

prometheus: install  ## Prometheus and promtool for the scrape test (Debian's package, when missing)
	$(UV) run python -m followback.infra.prometheus

demo: install  ## the main job: infra, the four services, a sample stream, the summary
	$(UV) run followback demo $(DEMO_ARGS)

test: infra-up browser prometheus  ## every test, on the real broker and database
	$(UV) run ruff check .
	FOLLOWBACK_REQUIRE_INFRA=1 $(UV) run pytest $(PYTEST_ARGS)

lint:
	$(UV) run ruff check .
	$(UV) run ruff format --check .
	$(UV) run mypy followback services shared

format:
	$(UV) run ruff format .
	$(UV) run ruff check --fix .

clean: infra-down
	rm -rf .infra
