# Rota: `make run` serves the whole API on http://127.0.0.1:3000; `make test` runs every test.
# Both install what they need on first use (a Python venv in .venv for the AWS emulator and
# cfn-lint; Rust crates through cargo). Nothing is installed outside the repository.

VENV   := .venv
PYTHON ?= python3
PORT   ?= 3000

.PHONY: bench run test build bootstrap lint fmt clippy cfn-lint sam-validate clean-local reminders-now

$(VENV)/.installed: requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

bootstrap: $(VENV)/.installed

build:
	cargo build --workspace --bins

run: bootstrap build
	scripts/ensure-redis.sh
	target/debug/rota-local serve --host 127.0.0.1 --port $(PORT) --bin-dir target/debug --logs .local/logs

# Fires the hourly reminder schedule once against the running `make run` stack.
reminders-now:
	target/debug/rota-local fire --function RemindersSchedulerFunction \
	  --aws-endpoint "$$(python3 -c 'import json; print(json.load(open(".local/stack.json"))["aws_endpoint"])')"

test: bootstrap
	scripts/test.sh

cfn-lint: bootstrap
	$(VENV)/bin/cfn-lint template.yaml

# The SAM transform and its linter, offline (no AWS credentials needed).
sam-validate: bootstrap
	SAM_CLI_TELEMETRY=0 $(VENV)/bin/sam validate --lint --template template.yaml --region us-east-1

fmt:
	cargo fmt --all -- --check

clippy:
	cargo clippy --workspace --all-targets -- -D warnings

lint: fmt clippy cfn-lint sam-validate

clean-local:
	rm -rf .local

# Per-function cold start, CPU per warm invocation, peak RSS, binary size and DynamoDB/Redis cost
# per request, through the Lambda Runtime API (BENCHMARKS.md). Release build of every function.
bench: bootstrap
	scripts/ensure-redis.sh
	cargo build --release --workspace --bins
	target/release/rota-bench --bin-dir target/release --warm 30
