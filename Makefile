# The two commands the README opens with: `make demo` and `make test`.
# Both set up a virtual environment from nothing: torch==2.13.0 first (the CPU build that pip takes
# from local disk here), then the project with its dev extras.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.brandscan-installed

.PHONY: setup demo test examples bench lint clean browser-test browser

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "torch==2.13.0"
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	$(BIN)/brandscan analyze examples/outdoor-gear-review-thread.txt -c examples/brands.yaml

test: $(STAMP) browser
	$(BIN)/python -m pytest

# Debian's Chromium for the HTML view's browser test; installing it needs root (as in CI, which also
# sets BRANDSCAN_REQUIRE_BROWSER=1 so that a missing browser fails instead of skipping).
browser:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } || echo "chromium is not installed (installing it needs root): the browser test will be skipped"

# The HTML view in a real headless Chromium (Debian's package; CI runs as root, so it can install it).
browser-test: $(STAMP) browser
	BRANDSCAN_REQUIRE_BROWSER=1 $(BIN)/python -m pytest tests/test_render_browser.py

examples: $(STAMP)
	$(BIN)/python examples/regenerate.py

# ruff's version is pinned in pyproject's dev extra and its rules in [tool.ruff.lint]; CI runs this.
lint: $(STAMP)
	$(BIN)/ruff check cli engine training evaluation tests bench examples

clean:
	rm -rf $(VENV) build *.egg-info
