# fjsense: `make demo` runs the platform on the embedded stack; `make test` runs every test.
# Both set up what they need first: a virtualenv in .venv, Mosquitto and PostgreSQL server
# binaries (apt-get, when missing and we may), and TimescaleDB-in-PGlite for the tests (npm).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
MINUTES ?= 5
# `make report`: the Beijing calendar period holding DATE (default today) into report/
PERIOD ?= week
DATE ?=
# tests run two at a time (pytest-xdist): most of them wait on servers, not on a core
TEST_WORKERS ?= 2
APT := $(if $(filter 0,$(shell id -u)),apt-get,sudo apt-get)

.PHONY: setup system-deps bench-deps demo report test lint bench dashboards clean

setup: $(VENV)/.installed system-deps tests/timescaledb/node_modules/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

system-deps:
	@if ! command -v mosquitto >/dev/null && [ ! -x /usr/sbin/mosquitto ]; then \
	  if command -v apt-get >/dev/null; then \
	    echo "installing mosquitto with apt-get"; \
	    $(APT) update -qq && DEBIAN_FRONTEND=noninteractive $(APT) install -y -qq mosquitto; \
	  else echo "error: mosquitto is missing: install Eclipse Mosquitto 2 (e.g. 'sudo apt-get install mosquitto')"; exit 1; fi; \
	fi
	@if ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then \
	  if command -v apt-get >/dev/null; then \
	    echo "installing PostgreSQL server binaries with apt-get"; \
	    $(APT) update -qq && DEBIAN_FRONTEND=noninteractive $(APT) install -y -qq postgresql; \
	  else echo "error: PostgreSQL server binaries are missing: install PostgreSQL 15+ (e.g. 'sudo apt-get install postgresql')"; exit 1; fi; \
	fi
	@if ! command -v chromium >/dev/null; then \
	  if command -v apt-get >/dev/null; then \
	    echo "installing Chromium with apt-get (it prints the report's PDF; the tests look at the report in it)"; \
	    $(APT) update -qq && DEBIAN_FRONTEND=noninteractive $(APT) install -y -qq chromium; \
	  else echo "error: chromium is missing: install Chromium (e.g. 'sudo apt-get install chromium')"; exit 1; fi; \
	fi
	@if ! fc-list :lang=zh 2>/dev/null | grep -q .; then \
	  if command -v apt-get >/dev/null; then \
	    echo "installing a Chinese font with apt-get (the report is in Chinese)"; \
	    $(APT) update -qq && DEBIAN_FRONTEND=noninteractive $(APT) install -y -qq fonts-wqy-microhei; \
	  else echo "error: no Chinese font: install one (e.g. 'sudo apt-get install fonts-wqy-microhei')"; exit 1; fi; \
	fi

tests/timescaledb/node_modules/.installed: tests/timescaledb/package-lock.json
	@command -v npm >/dev/null || { echo "error: npm is missing: install Node.js 18+ (e.g. 'sudo apt-get install nodejs npm')"; exit 1; }
	npm ci --silent --no-audit --no-fund --prefix tests/timescaledb
	touch $@

demo: $(VENV)/.installed system-deps
	$(BIN)/fjsense demo --minutes $(MINUTES)

report: $(VENV)/.installed system-deps
	$(BIN)/fjsense report --period $(PERIOD) $(if $(DATE),--date $(DATE)) --out report

test: setup
	$(BIN)/pytest -q -n $(TEST_WORKERS) --dist loadfile

lint: setup
	$(BIN)/ruff check fjsense ingest streams sinks dashboards simulators kinds app benchmarks
	$(BIN)/mypy fjsense ingest streams sinks dashboards simulators kinds app

bench-deps:
	@if ! command -v mosquitto_pub >/dev/null; then \
	  if command -v apt-get >/dev/null; then \
	    echo "installing mosquitto-clients with apt-get (the benchmark's C baseline)"; \
	    $(APT) update -qq && DEBIAN_FRONTEND=noninteractive $(APT) install -y -qq mosquitto-clients; \
	  else echo "warning: mosquitto_pub is missing: the C baseline will be null"; fi; \
	fi

bench: $(VENV)/.installed system-deps bench-deps
	$(BIN)/python -m benchmarks.e2e
	$(BIN)/python -m benchmarks.alerts
	$(BIN)/python -m benchmarks.cells

dashboards: $(VENV)/.installed
	$(BIN)/fjsense dashboards build --out build/grafana

clean:
	-$(BIN)/fjsense down
	rm -rf $(VENV) build .fjsense report tests/timescaledb/node_modules
