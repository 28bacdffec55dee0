# The two commands a newcomer needs: `make demo` and `make test`.
SHELL := /bin/bash
.PHONY: test lint demo venv

# A real Home Assistant (http://127.0.0.1:8123, demo / demo1234) with ocpp_cp set up against a
# local CSMS that logs every frame, and a simulated charger and car. Ctrl-C stops everything.
demo:
	@bash scripts/demo.sh

venv:
	@bash scripts/venv.sh >/dev/null

# Installs what the tests need (the pinned virtualenv, the npm packages, Debian's Chromium and
# Mosquitto with root or sudo), then runs lint, type checks and every test.
test:
	@bash scripts/ci-deps.sh && \
	  VENV=$$(bash scripts/venv.sh) && \
	  "$$VENV/bin/ruff" check custom_components tests benchmarks example firmware && \
	  "$$VENV/bin/ruff" format --check custom_components tests benchmarks example firmware && \
	  "$$VENV/bin/mypy" && \
	  "$$VENV/bin/python" -m pytest -p no:cacheprovider $(PYTEST_ARGS)

lint:
	@VENV=$$(bash scripts/venv.sh) && "$$VENV/bin/ruff" check --fix custom_components tests benchmarks example firmware && "$$VENV/bin/ruff" format custom_components tests benchmarks example firmware
