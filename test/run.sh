#!/bin/sh
# `npm test`: install what is missing, build, then run every test file with node's test runner.
set -eu
cd "$(dirname "$0")/.."
sh ./test/ensure-deps.sh test
# The HAProxy test/build-haproxy.sh built (it keeps maxconn 1 under bursts) comes first; Debian's stays
# reachable in the sbin directories for the tests that compare. Node is the one the image ships: the
# npm registry's `node` package (a dev dependency), also when this script runs outside npm.
PATH="$PWD/.deps/bin:$PWD/node_modules/.bin:$PATH:/usr/sbin:/sbin"
export PATH
# One file at a time: the end-to-end files start real HAProxy and nginx processes on fixed loopback ports.
exec node --test --test-concurrency=1 ${TEST_FILES:-$(find dist/test -name '*.test.js' | sort)}
