# The two set-up commands of the README. Each sets up what it needs first (scripts/setup.sh).
#   make demo   the whole chain on the emulated board: data, train (or MODEL=...), export, build,
#               run in QEMU, bench 1,000 test images, report
#   make test   lint (ruff check, ruff format --check), then the test suite with the end-to-end
#               tests on the emulated boards
VENV := .venv/bin
MODEL ?=
DEMO_OUT ?= out/demo

.PHONY: setup setup-test demo test lint
setup:
	@scripts/setup.sh

setup-test:
	@scripts/setup.sh --test

demo: setup
	$(VENV)/bs4nn demo --out $(DEMO_OUT) $(if $(MODEL),--model $(MODEL))

# The tests find MNIST and Fashion-MNIST where a user's bs4nn would, or fetch them into the user
# cache first (tests/conftest.py), as `bs4nn data fetch` does.
test: setup-test lint
	$(VENV)/python -m pytest

lint: setup
	$(VENV)/ruff check .
	$(VENV)/ruff format --check .
