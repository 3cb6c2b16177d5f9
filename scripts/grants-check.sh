#!/usr/bin/env bash
# PLACEHOLDER (issue 20, item 1): the grant test, each function's IAM grants against the calls it
# makes (fails on an unused or a missing grant). Written in parallel on another branch, which
# replaces this file; `make deploy-check` (and so `make test`) fails here until then.
echo "grants-check: not yet written (scripts/grants-check.sh is a placeholder)" >&2
exit 1
