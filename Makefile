# Rota: `make run` serves the whole API on http://127.0.0.1:3000; `make test` runs every test.
# Both install what they need on first use, and `make run` only that: a Python venv in .venv
# with the AWS emulator (requirements-serve.txt), and the two binaries a stack runs. The test
# and template tools (requirements-dev.txt: cfn-lint, SAM CLI, schemathesis) come with `make
# test` and the targets that run them, the packaging tools (requirements-package.txt) with `make
# package`. Nothing is installed outside the repository.
#
# A second stack beside the first: `PORT=3100 make run` (its own emulator port, cache cluster
# and logs; see below). Every stack runs its own cache: a Redis cluster of three primaries over
# TLS (local CA in .local/ca/, made on first run), as ElastiCache Serverless runs it. Under a
# fault profile of local/faults.yaml: `ROTA_FAULTS=bad-day make run` (or both:
# `PORT=3100 ROTA_FAULTS=bad-day make run`).

VENV   := .venv
PYTHON ?= python3
# SAM CLI from the venv, offline: no telemetry.
SAM    := SAM_CLI_TELEMETRY=0 $(VENV)/bin/sam
# The gateway's port; everything else of the stack follows from it unless set.
PORT   ?= 3000
# The emulator's port: PORT + 2005 (5005 for 3000).
MOTO_PORT ?= $(shell echo $$(( $(PORT) + 2005 )))
# Logs and stack.json: .local for port 3000, .local/<PORT> otherwise.
STACK_DIR := $(if $(filter 3000,$(PORT)),.local,.local/$(PORT))
# Fault profile of local/faults.yaml (none: no faults).
ROTA_FAULTS ?= none
# Template parameters for `make run`, as `sam deploy` takes them (e.g. ApiDocs=Disabled).
PARAMETER_OVERRIDES ?=

# `load` (below) is not in `make test`: it runs for about ten minutes.
.PHONY: api-check client-check docs-check package-check package deploy-check grants-check load bench run test build serve-build bootstrap dev-tools lint fmt clippy cfn-lint sam-validate clean-local reminders-now fuzz-check deps-check

# What serving needs (the emulator; also what the tests' stacks need).
$(VENV)/.serve: requirements-serve.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-serve.txt
	touch $@

# The test and template tools, over it.
$(VENV)/.dev-tools: requirements-dev.txt $(VENV)/.serve
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

bootstrap: $(VENV)/.serve

dev-tools: $(VENV)/.dev-tools

# Every binary of the workspace (the stack's, rota-admin, rota-bench, the test stand-ins).
build:
	cargo build --workspace --bins

# The two binaries a stack runs: rota-local and the functions' `rota`. Their features resolved
# over the whole workspace, as `build` resolves them (rota-tests turns on `rota`'s diagnostics
# and regex's defaults): the two builds then share every compiled crate and leave the same
# target/debug/rota, where `-p` would rebuild the crates under tracing-subscriber at each switch.
serve-build:
	cargo build --workspace --bin rota-local --bin rota

# The venv and the build side by side (pip waits on the network while cargo compiles): from a
# fresh clone this served 35 s sooner (BENCHMARKS.md, "`make run` installs only what serving needs").
run:
	@$(MAKE) --no-print-directory -j2 bootstrap serve-build
	scripts/ensure-redis.sh
	target/debug/rota-local serve --host 127.0.0.1 --port $(PORT) --moto-port $(MOTO_PORT) \
	  --bin-dir target/debug --logs $(STACK_DIR)/logs \
	  --faults $(or $(ROTA_FAULTS),none) \
	  $(if $(PARAMETER_OVERRIDES),--parameter-overrides $(PARAMETER_OVERRIDES))

# Fires the reminder schedule once against the running `make run` stack (of PORT; its cache
# from its stack.json). With AT=<RFC 3339> (e.g. AT=2026-12-08T03:30:00Z) it fires as if the
# clock read AT, and the workers judge what is due by that clock (local only: see
# shared/api/src/reminders.rs).
reminders-now:
	target/debug/rota-local fire --function RemindersSchedulerFunction $(if $(AT),--time '$(AT)') \
	  --logs $(STACK_DIR)/logs \
	  --aws-endpoint "$$(python3 -c 'import json; print(json.load(open("$(STACK_DIR)/stack.json"))["aws_endpoint"])')"

test: dev-tools
	scripts/test.sh

# Against the running `make run` stack (or ROTA_BASE_URL): schemathesis with every check and
# phase; the generated TypeScript client's end-to-end tour (client/; starts its own stack when
# ROTA_BASE_URL is unset); GET /docs in headless Chromium. All three are part of `make test`.
api-check: dev-tools
	scripts/schemathesis.sh

client-check: bootstrap serve-build
	scripts/client-check.sh

docs-check: bootstrap serve-build
	scripts/docs-check.sh

# The fuzz targets of fuzz/ (the input, cursor and refresh-token parsers), FUZZ_SECONDS each
# (15 by default); fails on a crash. cargo-fuzz is installed on first use into .tools/.
fuzz-check:
	scripts/fuzz-check.sh

# Dependencies declared but never used (cargo-machete, installed on first use into .tools/).
deps-check:
	scripts/deps-check.sh

cfn-lint: dev-tools
	$(VENV)/bin/cfn-lint template.yaml

# The SAM transform and its linter, offline (no AWS credentials needed).
sam-validate: dev-tools
	$(SAM) validate --lint --template template.yaml --region us-east-1

fmt:
	cargo fmt --all -- --check
	cargo fmt --manifest-path fuzz/Cargo.toml --all -- --check

clippy:
	cargo clippy --workspace --all-targets -- -D warnings

lint: fmt clippy cfn-lint sam-validate

# The deployable artifact every function shares, built as `sam deploy` would upload it: `sam
# build` with the template's builder (BuildMethod: rust-cargolambda, a beta feature of SAM CLI,
# hence --beta-features) for ARCH: arm64 (Graviton, the template's default) or x86_64
# (`make package ARCH=x86_64`). The functions' build properties are identical, so SAM builds
# once for all of them: `cargo lambda build --release --bin rota` in the workspace (zig links
# against the glibc symbols provided.al2023 has; the binary stripped), into
# target/lambda/rota/bootstrap, copied into the one directory all functions' CodeUri name in
# .aws-sam/build/template.yaml (SAM CLI 1.170: .aws-sam/build/AuthRegisterFunction-Shared/). Then
# scripts/check-sam-build.sh: a bootstrap for every function of the template, each checked by
# scripts/check-artifact.sh (ELF machine, glibc <= 2.34, only glibc's shared libraries).
# A release build of its own target: ~10 minutes here.
ARCH ?= arm64
RUST_TARGET = $(if $(filter arm64,$(ARCH)),aarch64,x86_64)-unknown-linux-gnu

$(VENV)/.package-tools: requirements-package.txt $(VENV)/.dev-tools
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-package.txt
	touch $@

package: $(VENV)/.package-tools
	rustup target list --installed | grep -qx $(RUST_TARGET) || rustup target add $(RUST_TARGET)
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" CARGO_PROFILE_RELEASE_STRIP=symbols \
	  $(SAM) build --beta-features --template template.yaml --parameter-overrides Architecture=$(ARCH)
	scripts/check-sam-build.sh $(ARCH)

# Everything short of calling AWS, offline: the template (cfn-lint; the SAM transform and its
# linter), the artifact SAM builds and its checks (package, then tests/alone/package.rs holding
# it to the template), and the grant test. CI runs it after `make test` (.ci/run): the release
# build is ~10 minutes of its own, which `make test` leaves out to stay within its 15.
deploy-check: cfn-lint sam-validate package package-check grants-check

# The artifact of `make package` against the template (architecture, glibc, size, every
# function's bootstrap).
package-check:
	cargo nextest run -p rota-tests --test package --no-fail-fast

# The grant test: each function's IAM grants (the SAM-expanded roles) against the calls it
# makes on a stack of its own with IAM enforced (tests/alone/grants.rs, ~40 s).
grants-check: bootstrap
	scripts/grants-check.sh

# Removes the logs and state of every stack (the default one and those of other ports).
clean-local:
	rm -rf .local

# Per-function cold start, CPU per warm invocation, peak RSS, binary size and DynamoDB/Redis cost
# per request, through the Lambda Runtime API (BENCHMARKS.md). Release build of the one binary
# every function runs (`rota`, with the diagnostics header the harness reads) and of the harness
# (the crate rota-bench in bench/).
bench: bootstrap
	scripts/ensure-redis.sh
	cargo build --release -p rota-functions --features rota-functions/diagnostics -p rota-bench
	target/release/rota-bench --bin-dir target/release --warm 30

# The owner's 500 concurrent users at a human pace on this machine (BENCHMARKS.md, "500 users"):
# release-optimised binaries (profile `load`), a stack of its own on port 3100, a pool of 500
# accounts, six minutes of loadtest/users500.yml with CPU per process, the hot-key report and a
# recount of every counter.
# Stops by itself. Under a fault profile: `ROTA_FAULTS=bad-day make load`.
load: bootstrap
	scripts/ensure-redis.sh
	cargo build --profile load --workspace --bins
	BIN_DIR=target/load POOL_USERS=500 POOL_POSTS=100 scripts/loadtest.sh stack pool users500 hotkeys verify stop
