#!/usr/bin/env bash
# CI entry point of the conformance suite: runs every case against the
# installed ociruntime and fails (exit 1) on any failure that is not in
# conformance/baseline-ociruntime.json (a regression), or on anything a case
# leaves behind.  Cases in the baseline that pass now are listed as "fixed".
# Needs root, gcc (the checker is built statically) and busybox-static.
set -euo pipefail
cd "$(dirname "$0")/.."
exec /usr/bin/python3 -m conformance \
    --runtime "${OCIRUNTIME:-/usr/local/bin/ociruntime}" \
    --baseline conformance/baseline-ociruntime.json \
    --jobs 2 "$@"
