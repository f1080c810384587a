#!/bin/sh
# rtmp-proxy container entrypoint. It also runs outside Docker, from a checkout after `npm run build`:
#
#   sh src/entrypoint.sh [run|once|render|status|check|--help]  the daemon's CLI (dist/src/cli.js); no argument = run
#                                                  (run and once with the V8 flags below)
#   sh src/entrypoint.sh healthcheck               exit 0 when the health page answers 200
#   sh src/entrypoint.sh <any other command>       runs that command (e.g. sh, for a look inside)
#
# In the image, tini is PID 1: it reaps HAProxy's daemonized master once it exits and forwards
# SIGTERM to this script's process, which by then is node (exec), so the daemon gets the signal itself.
# The settings are the daemon's own environment variables (src/config.ts); this script only prepares
# the directories HAProxy writes to, and says clearly which variable points where when it cannot.
set -eu

here=$(CDPATH='' cd -- "$(dirname -- "$0")" && pwd)
# The package root: src/.. in a checkout, /app in the image (the script ships as /app/src/entrypoint.sh).
app_dir=${RTMP_PROXY_HOME:-$(dirname -- "$here")}
node_bin=${NODE_BIN:-node}
# Node and V8 flags for the daemon (run, once), for memory and for the time an event's step takes:
#  - the young generation capped at 1 MB semi-spaces (V8 grows them to ~64 MB under the bursts of
#    short-lived objects of a sync at thousands of Servers), and the old generation collected at 1.2x
#    its live size (V8 lets it grow to several times that first): at 5,000 Servers the RSS peak halves
#    (bench 8d: ~220 -> ~125 MB);
#  - --lite-mode: bytecode only, no optimizing compilers (bench 8d at 5,000 Servers: peak 106-112 ->
#    ~90 MB in quick runs), for ~30-40% more CPU per sync (bench 5) and somewhat slower event steps
#    (bench 8c). It has no WebAssembly, so no fetch() (undici): the daemon's HTTP reads use node:http
#    (src/http-get.ts);
#  - --no-node-snapshot: Node builds its start-up heap by running its bootstrap code rather than from
#    the snapshot in its binary, whose pages then stay resident: ~4-5 MB less RSS (bench 8d), ~40 ms
#    slower to start;
#  - --expose-gc: once quiet after a burst of work (an event step's file, a sync), the daemon empties
#    V8's young generation (src/idle-gc.ts), so the next event's step is not paused by a collection of
#    what the burst left (bench 8c at 1,000 Servers: 67 of 202 steps had a 2-8 ms pause in them, 3 after).
# NODE_OPTIONS cannot carry V8's own flags: RTMP_PROXY_NODE_FLAGS replaces them all ('' for none).
daemon_node_flags=${RTMP_PROXY_NODE_FLAGS-"--max-semi-space-size=1 --heap-growing-percent=20 --lite-mode --no-node-snapshot --expose-gc"}

die() {
  printf 'rtmp-proxy entrypoint: %s\n' "$*" >&2
  exit 1
}

# ensure_parent VARIABLE PATH MODE: the directory holding PATH exists (created with MODE) and is writable.
ensure_parent() {
  dir=$(dirname -- "$2")
  if [ ! -d "$dir" ]; then
    mkdir -p -- "$dir" 2>/dev/null || die "$1=$2: cannot create the directory $dir as $(id -un 2>/dev/null || id -u)"
    chmod "$3" "$dir" || die "$1=$2: cannot set mode $3 on $dir"
  fi
  [ -w "$dir" ] || die "$1=$2: the directory $dir is not writable by $(id -un 2>/dev/null || id -u)"
}

preflight() {
  command -v "$node_bin" >/dev/null 2>&1 || die "node ($node_bin) was not found on PATH"
  [ -f "$app_dir/dist/src/cli.js" ] || die "$app_dir/dist/src/cli.js is missing: run npm run build (or set RTMP_PROXY_HOME)"
  haproxy_bin=${HAPROXY_BIN:-haproxy}
  command -v "$haproxy_bin" >/dev/null 2>&1 || die "HAPROXY_BIN=$haproxy_bin was not found (PATH=$PATH)"
  # Defaults as in src/config.ts (IMAGE_DEFAULTS); the Dockerfile creates them for the image's user.
  socket=${HAPROXY_SOCKET:-/var/run/rtmp-proxy/admin.sock}
  ensure_parent HAPROXY_CONFIG "${HAPROXY_CONFIG:-/usr/local/etc/haproxy/haproxy.cfg}" 755
  ensure_parent HAPROXY_PIDFILE "${HAPROXY_PIDFILE:-/var/run/rtmp-proxy/haproxy.pid}" 700
  ensure_parent HAPROXY_SOCKET "$socket" 700
  ensure_parent HAPROXY_MASTER_SOCKET "${HAPROXY_MASTER_SOCKET:-$socket.master}" 700
}

# The address the health check reaches HAProxy's health frontend on.
health_host() {
  case "${BIND_ADDRESS:-0.0.0.0}" in
    0.0.0.0) echo 127.0.0.1 ;;
    ::) echo '[::1]' ;;
    *:*) echo "[$BIND_ADDRESS]" ;;
    *) echo "$BIND_ADDRESS" ;;
  esac
}

command=${1:-run}
[ $# -gt 0 ] && shift

case "$command" in
  run | once)
    preflight
    # shellcheck disable=SC2086 # the flags are words
    exec "$node_bin" $daemon_node_flags "$app_dir/dist/src/cli.js" "$command" "$@"
    ;;
  render | status | check | help | --help | -h)
    exec "$node_bin" "$app_dir/dist/src/cli.js" "$command" "$@"
    ;;
  healthcheck)
    # /live: HAProxy answers. Not /, which turns 503 while every Server is busy: a full Proxy must not
    # be taken for a dead container and replaced, which would cut its streams.
    url="http://$(health_host):${HEALTH_PORT:-8000}/live"
    # shellcheck disable=SC2016 # JavaScript, not shell: the URL comes in as process.argv[1]
    exec "$node_bin" -e '
      fetch(process.argv[1], { signal: AbortSignal.timeout(2500) }).then(
        (r) => { if (r.status !== 200) console.error(`health page ${process.argv[1]} answered ${r.status}`); process.exit(r.status === 200 ? 0 : 1); },
        (e) => { console.error(`health page ${process.argv[1]}: ${e.cause?.code ?? e.message}`); process.exit(1); });
    ' "$url"
    ;;
  *)
    exec "$command" "$@"
    ;;
esac
