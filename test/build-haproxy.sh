#!/bin/sh
# Builds the HAProxy the tests, the demo and the bench run, and links it at .deps/bin/haproxy.
#
# Why not Debian 12's package: HAProxy 2.6.12 lets a server with `maxconn 1` take two streams when it
# comes up while streamers wait in the backend queue (fixed upstream on 2024-12-17 by 111ea83ed and
# 3372a2ea0; see README "HAProxy versions"). Debian 13 (trixie) carries the 3.0 LTS branch with both
# fixes; its source is a Debian package too, so we build that release here, the branch the image ships.
#
# The upstream tarball comes through apt with a private configuration (nothing in /etc/apt changes):
# apt checks it against trixie's signed Sources index. The binary is cached per version under
# RTMP_PROXY_CACHE (default ~/.cache/rtmp-proxy), so only the first run on a machine builds (~75 s on
# 2 cores); later runs, and fresh clones on the same machine, link the cached binary.
#
# Usage: sh test/build-haproxy.sh   (prints the path of the binary on stdout)
set -eu
cd "$(dirname "$0")/.."

SUITE=trixie
cache=${RTMP_PROXY_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/rtmp-proxy}
link=.deps/bin/haproxy
say() { echo "build-haproxy: $*" >&2; }

mkdir -p "$cache" .deps/bin
# One build at a time on a machine (two checkouts running npm test together).
exec 9>"$cache/.lock"
command -v flock >/dev/null 2>&1 && flock 9

# The newest release in the suite; the cache stays valid until the suite moves to another one.
apt_dir="$cache/apt-$SUITE"
apt_opts="-o Dir::Etc::SourceList=$apt_dir/sources.list -o Dir::Etc::SourceParts=/dev/null \
 -o Dir::State::Lists=$apt_dir/lists -o Dir::Cache=$apt_dir/cache -o Dir::State::status=/dev/null \
 -o APT::Sandbox::User=$(id -un) -o Debug::NoLocking=true"
version_file="$cache/haproxy-$SUITE.version"
# The suite's index is refreshed once a day at most: a cached binary needs no network at all.
if [ ! -s "$version_file" ] || [ -n "$(find "$version_file" -mmin +1440 2>/dev/null)" ]; then
  mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial"
  echo "deb-src http://deb.debian.org/debian $SUITE main" >"$apt_dir/sources.list"
  # shellcheck disable=SC2086
  if apt-get $apt_opts -qq update >/dev/null 2>&1; then
    # shellcheck disable=SC2086
    v=$(apt-cache $apt_opts showsrc haproxy 2>/dev/null | sed -n 's/^Version: //p' | head -n 1)
    # Upstream version: drop the epoch and the Debian revision.
    v=${v#*:}
    [ -n "$v" ] && echo "${v%-*}" >"$version_file"
  elif [ ! -s "$version_file" ]; then
    say "could not read Debian $SUITE's source index (apt-get update failed) and no HAProxy is cached"
    exit 1
  else
    say "could not refresh Debian $SUITE's source index; using the cached version"
  fi
fi
version=$(cat "$version_file")
bin="$cache/haproxy-$version/haproxy"

if [ ! -x "$bin" ]; then
  say "building HAProxy $version from Debian $SUITE's source (once per machine; cached in $cache)"
  started=$(date +%s)
  # Build dependencies: a compiler and make come with the machine; OpenSSL and PCRE2 headers from Debian.
  need=""
  [ -e /usr/include/openssl/ssl.h ] || need="$need libssl-dev"
  [ -e /usr/include/pcre2.h ] || need="$need libpcre2-dev"
  command -v make >/dev/null 2>&1 || need="$need make"
  command -v gcc >/dev/null 2>&1 || need="$need gcc"
  if [ -n "$need" ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
      say "installing build dependencies:$need"
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $need >/dev/null
    else
      say "missing build dependencies:$need (sudo apt-get install$need)"
      exit 1
    fi
  fi
  work=$(mktemp -d "$cache/build.XXXXXX")
  trap 'rm -rf "$work"' EXIT
  # shellcheck disable=SC2086
  (cd "$work" && apt-get $apt_opts -qq source --download-only "haproxy" >/dev/null 2>&1) || true
  tarball=$(ls "$work"/haproxy_"$version".orig.tar.* 2>/dev/null | head -n 1)
  if [ -z "$tarball" ]; then
    say "could not download haproxy_$version.orig.tar.* from Debian $SUITE"
    exit 1
  fi
  tar -xf "$tarball" -C "$work"
  src=$(find "$work" -mindepth 1 -maxdepth 1 -type d -name 'haproxy-*' | head -n 1)
  # The same features as the official image's build that the daemon and its tests use: OpenSSL,
  # PCRE2, the Prometheus exporter (HAPROXY_METRICS_PORT).
  if ! make -C "$src" -j"$(nproc 2>/dev/null || echo 2)" TARGET=linux-glibc USE_OPENSSL=1 USE_PCRE2=1 USE_PCRE2_JIT=1 USE_PROMEX=1 >"$work/build.log" 2>&1; then
    tail -n 30 "$work/build.log" >&2
    say "building HAProxy $version failed"
    exit 1
  fi
  mkdir -p "$cache/haproxy-$version"
  cp "$src/haproxy" "$bin.tmp" && mv "$bin.tmp" "$bin"
  echo "$(($(date +%s) - started))" >"$cache/haproxy-$version/build-seconds"
  say "built HAProxy $version in $(cat "$cache/haproxy-$version/build-seconds") s"
fi

ln -sfn "$bin" "$link"
"$link" -v | head -n 1 >&2
echo "$PWD/$link"
