# Two commands do everything on a fresh machine: `make serve` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# pip, not uv/poetry: the CPU build of torch 2.13.0 is a local wheel only pip's find-links sees.
PIP    := $(BIN)/pip install --quiet --disable-pip-version-check

.PHONY: install browser serve index test lint eval bench clean

install: $(STAMP)

$(STAMP): pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) torch==2.13.0
	$(PIP) -c requirements.lock -e '.[dev]'
	touch $(STAMP)

index: install
	$(BIN)/kb index --if-stale

serve: index
	$(BIN)/kb serve

# The browser test drives Debian's chromium; where it cannot be installed the test skips and says why.
browser:
	@command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium >/dev/null) \
	  || echo "note: chromium could not be installed; the browser test will be skipped"

test: install browser
	$(BIN)/ruff check .
	# pytest exits 5 when it collects no tests; that is not a failure.
	$(BIN)/pytest; code=$$?; [ $$code -eq 0 ] || [ $$code -eq 5 ] || exit $$code

eval: index
	$(BIN)/kb eval ../shared/eval/questions.jsonl

clean:
	rm -rf $(VENV) index .pytest_cache .ruff_cache
