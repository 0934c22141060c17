# The two commands a newcomer needs:
#   make run    set everything up and run the assistant on embedded defaults (SQLite, in-memory Rasa stores)
#   make test   set everything up, lint, and run the whole test suite
# And while working (docs/development.md):
#   make test-fast  the tests that need no Rasa model and no server process, on every core (about 90 s on 2 cores)
#   make lint       ruff and mypy, as configured in pyproject.toml
.PHONY: setup run shell train validate test test-fast lint test-stories bench clean fuzz fuzz-portal fuzz-gateway

PY := .venv/bin/python
RASA := .venv-rasa/bin/rasa

setup:
	bash scripts/setup.sh

run: setup
	$(PY) -m bot run

shell: setup
	$(PY) -m bot shell

train: setup
	$(PY) -c "from bot.stack import ensure_model; print(ensure_model())"

validate: setup
	$(RASA) data validate --fail-on-warnings

test-stories: train
	$(RASA) test core --stories tests/stories --model "$$($(PY) -c 'from bot.stack import ensure_model; print(ensure_model(log=lambda m: None))')" \
		--fail-on-prediction-errors --out results/stories

test: setup lint validate test-stories
	$(PY) -m pytest

test-fast: setup
	$(PY) -m pytest -m "not stack and not fuzz" -q -n auto

lint: setup
	$(PY) -m ruff check .
	$(PY) -m mypy

# Longer fuzz runs than CI's (which sends 1,000 hostile inputs per portal route, on PostgreSQL).
fuzz: fuzz-portal fuzz-gateway

fuzz-portal: setup
	FUZZ_N=$${FUZZ_N:-20000} FUZZ_DATABASES=sqlite,postgresql REQUIRE_POSTGRES=1 $(PY) -m pytest tests/test_portal_fuzz.py -x -q -s

bench: train
	$(PY) scripts/bench_gateway.py

clean:
	rm -rf models results var/run

# A longer fuzz run of the resident gateway than CI's 1,000 inputs per endpoint (tests/test_gateway_fuzz.py).
fuzz-gateway: train
	FUZZ_N=20000 $(PY) -m pytest tests/test_gateway_fuzz.py -q
