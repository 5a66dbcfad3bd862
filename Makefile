# Điểm Cầu — `make help` lists every target.
# The two commands a newcomer needs: `make run` and `make test` (as root on Debian/Ubuntu).

SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV      ?= .venv
DATA_DIR  ?= var
# Django 6 needs Python >= 3.12: take the first one found on PATH or under pyenv.
PYTHON    ?= $(shell for p in python3.13 python3.12 $$(ls -d /root/.pyenv/versions/3.1[2-9]*/bin/python3 2>/dev/null); do \
                if command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then echo $$p; break; fi; done)
PY        := $(VENV)/bin/python
APT_RUN   := janus janus-tools libjs-janus-gateway libjs-webrtc-adapter gettext fonts-dejavu-core caddy coturn iproute2
APT_TEST  := chromium libnss3-tools nftables curl strace
# The benchmark's native load generator (bench/native.py): GStreamer's webrtcbin for
# Debian's python3 (PyGObject is packaged for that interpreter, not for the virtualenv).
APT_BENCH := python3-gi gir1.2-gstreamer-1.0 gir1.2-gst-plugins-base-1.0 gir1.2-gst-plugins-bad-1.0 \
             gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad gstreamer1.0-nice
TEST_DB   ?= postgres://postgres@127.0.0.1:5432/diemcau_test

export DIEMCAU_DATA_DIR ?= $(abspath $(DATA_DIR))

.PHONY: help run test test-sqlite test-postgres lint e2e bench deps deps-test deps-bench messages clean doctor install uninstall

help: ## list every target
	@grep -hE '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

# --- installation (idempotent and fast when nothing is missing) ------------------------

# $(call apt_get,PACKAGES): install those of PACKAGES that are not installed yet.
define apt_get
	@missing=$$(for p in $(1); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "Installing Debian packages: $$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi
endef

$(VENV)/.apt-run:
	$(call apt_get,$(APT_RUN))
	@# Debian's caddy.service serves a welcome page on port 80 and coturn.service takes 3478;
	@# `diemcau serve` runs its own Caddy and coturn with configs it generates.
	@for unit in caddy coturn; do \
	  if [ -d /run/systemd/system ] && systemctl is-enabled $$unit >/dev/null 2>&1; then \
	    echo "Stopping Debian's $$unit.service (Điểm Cầu starts its own $$unit)"; \
	    systemctl disable --now $$unit >/dev/null 2>&1 || true; \
	  fi; \
	done
	@mkdir -p $(VENV) && touch $@

$(VENV)/.apt-test: $(VENV)/.apt-run
	$(call apt_get,$(APT_TEST))
	@touch $@

$(VENV)/.apt-bench: $(VENV)/.apt-test
	$(call apt_get,$(APT_BENCH))
	@touch $@

$(VENV)/.deps: pyproject.toml $(VENV)/.apt-run
	@test -n "$(PYTHON)" || { echo "Python 3.12 or newer is needed (Django 6). Install python3.12 and retry."; exit 1; }
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	@touch $@

deps: $(VENV)/.deps ## install Debian packages and the virtualenv (what `run` needs)

deps-test: $(VENV)/.deps $(VENV)/.apt-bench ## also install what the tests and benchmarks need (Chromium, GStreamer)

deps-bench: deps-test

messages: $(VENV)/.deps ## compile the translations (.po → .mo)
	@if [ -d src/diemcau/locale ]; then $(VENV)/bin/diemcau compilemessages -v 0; fi

# --- the two commands ---------------------------------------------------------------

run: deps messages ## install what is missing, migrate, load the demo, start Janus and the app
	$(VENV)/bin/diemcau migrate --noinput -v 0
	$(VENV)/bin/diemcau demo
	$(VENV)/bin/diemcau serve

test: deps-test messages ## install the same, then run the whole suite (SQLite, then PostgreSQL)
	$(MAKE) --no-print-directory test-sqlite
	$(MAKE) --no-print-directory test-postgres

# --- a real server (deploy/install.sh; docs/deploy.md, "Production install") ----------

install: ## production install (root): packages, user, /opt/diemcau, PostgreSQL, systemd unit; DOMAIN=… optional
	@DOMAIN='$(DOMAIN)' PYTHON='$(PYTHON)' deploy/install.sh install

uninstall: ## remove the systemd unit and /opt/diemcau; keeps the data, the settings and the database
	@deploy/install.sh uninstall

# Browser tests run on their own: Playwright's sync API keeps an event loop running in the
# main thread, which the asyncio tests of the same process cannot share. The multi-host tests
# (timed against links cut and shaped in network namespaces) get a process of their own, so
# that nothing the same-machine browser tests started (their `diemcau serve`, their Chromium)
# is still running on the two cores while they measure.
E2E = DIEMCAU_DATA_DIR=$(abspath $(DATA_DIR))/test $(PY) -m pytest -q tests/e2e --ignore=tests/e2e/test_multihost.py && \
	DIEMCAU_DATA_DIR=$(abspath $(DATA_DIR))/test $(PY) -m pytest -q tests/e2e/test_multihost.py
test-sqlite:
	@command -v node >/dev/null || { echo "Node.js 20 or newer is needed for the browser modules' tests (node --test)"; exit 1; }
	node --test tests/js/
	DIEMCAU_DATA_DIR=$(abspath $(DATA_DIR))/test $(PY) -m pytest -q tests/unit tests/integration
	$(E2E)

# PostgreSQL where a server is reachable: everything that touches the database again.
test-postgres:
	@if $(PY) -c "import psycopg,sys; psycopg.connect('$(TEST_DB)'.rsplit('/',1)[0]+'/postgres', connect_timeout=3).close()" 2>/dev/null; then \
	  echo "--- PostgreSQL ---"; \
	  DATABASE_URL=$(TEST_DB) DIEMCAU_DATA_DIR=$(abspath $(DATA_DIR))/test-pg $(PY) -m pytest -q -m 'not janus' tests/unit; \
	else echo "PostgreSQL not reachable at $(TEST_DB): skipped the PostgreSQL pass"; fi

e2e: deps-test ## browser tests only (Playwright + Debian Chromium)
	$(E2E)

lint: deps ## ruff and mypy (what CI's reviewers expect clean)
	$(VENV)/bin/ruff check src tests tools
	$(VENV)/bin/ruff format --check src tests tools
	$(VENV)/bin/mypy src tests tools
	$(PY) tools/check_architecture.py

# Not part of `make test` (tests/integration/test_bench_smoke.py is).
bench: deps-test ## benchmark: N = 10, 20, 40, 67 synthetic sites and the naive policy (BENCHMARKS.md)
	$(PY) -m bench sweep $(BENCH_ARGS)

doctor: deps ## check Janus, ports, secrets and the database, and say what to fix
	$(VENV)/bin/diemcau doctor

clean: ## remove the virtualenv (keeps the data folder)
	rm -rf $(VENV)
