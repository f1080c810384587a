#!/bin/sh
# Installs what the tests (or the demo) need and a fresh machine lacks: node modules from the
# lockfile; HAProxy, ffmpeg, nginx with the RTMP module through apt-get when running as root (Debian's
# HAProxy 2.6.12 stays for the bench's side-by-side); the HAProxy the suite runs, built from source.
# Usage: sh test/ensure-deps.sh [test|demo|bench]
set -eu
cd "$(dirname "$0")/.."

# node modules: install from the lockfile when missing or older than the lockfile
if [ ! -f node_modules/.package-lock.json ] || [ -n "$(find package-lock.json -newer node_modules/.package-lock.json)" ]; then
  echo "ensure-deps: installing node modules from package-lock.json" >&2
  npm ci --no-audit --no-fund --loglevel=error
fi

mode=${1:-test}
missing=""
command -v haproxy >/dev/null 2>&1 || [ -x /usr/sbin/haproxy ] || missing="$missing haproxy"
# the media chain (test, demo, and the bench's section 10): real Servers and publishers
command -v ffmpeg >/dev/null 2>&1 || missing="$missing ffmpeg"
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing="$missing nginx-light"
[ -e /usr/lib/nginx/modules/ngx_rtmp_module.so ] || missing="$missing libnginx-mod-rtmp"
# certificates for RTMPS (test/helpers/certificates.ts; the tests and the bench)
if [ "$mode" != demo ]; then
  command -v openssl >/dev/null 2>&1 || missing="$missing openssl"
fi
# lint tools for the Docker/stack tests (test/docker.test.ts, test/stacks.test.ts)
if [ "$mode" = test ]; then
  command -v docker-compose >/dev/null 2>&1 || missing="$missing docker-compose"
  command -v shellcheck >/dev/null 2>&1 || missing="$missing shellcheck"
fi

if [ -n "$missing" ]; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "ensure-deps: installing Debian packages:$missing" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends $missing >/dev/null
  else
    echo "ensure-deps: missing Debian packages:$missing" >&2
    echo "ensure-deps: install them with: sudo apt-get install$missing" >&2
    exit 1
  fi
fi

# Debian enables a default nginx site on :80 when the package installs; our Servers use their own configs.
if [ -x /usr/sbin/nginx ] && ! command -v nginx >/dev/null 2>&1; then
  echo "ensure-deps: note: nginx is in /usr/sbin, not on PATH; the tests look there" >&2
fi

# The HAProxy the tests, the demo and the bench run: Debian 12's 2.6.12 breaks maxconn 1 under bursts,
# so a fixed LTS release is built from Debian's source once per machine (test/build-haproxy.sh).
sh ./test/build-haproxy.sh >/dev/null

echo "ensure-deps: building TypeScript" >&2
npx --no-install tsc -p tsconfig.json
