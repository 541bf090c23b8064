# The two commands of README.md. Both work on a fresh Debian machine (they run deploy/local/setup.sh).
.PHONY: setup demo test down

setup:
	bash deploy/local/setup.sh

# Local broker + Redis, topology applied, every built component started, a demo alert through it.
demo: setup
	bash deploy/local/demo.sh

# Unit and integration tests against a real Kafka 3.9.1 broker (started by the tests unless
# KAFKA_BOOTSTRAP_SERVERS points at one) and a real Redis.
test: setup
	.venv/bin/python -m pytest $(PYTEST_ARGS)

down:
	.venv/bin/pipeline dev down
