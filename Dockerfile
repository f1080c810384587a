# syntax=docker/dockerfile:1
#
# rtmp-proxy: HAProxy routes RTMP (tcp :1935) to the Server tasks and serves the health page (:8000);
# the Node.js daemon keeps HAProxy's server list equal to the fleet.
#
# Runtime base: the official HAProxy image, 3.0 branch (LTS, maintained into 2029), Debian trixie: the
# branch the test suite runs (test/build-haproxy.sh builds Debian 13's 3.0 release). Not 2.6: Debian 12's
# 2.6.12 hands a Server that comes up more than one queued stream (README "HAProxy versions"). The daemon
# drives the master CLI (`show proc`, `reload`, `@!<pid>`) and the Runtime API (`add/del server`), whose
# answers it parses: moving to another branch means running the suite against that branch first.
# Node.js: the binary of the official Node image, 26 (the active LTS), the exact release `npm test`
# runs on (package.json's devDependency `node`, from the npm registry); Node's release binaries need
# glibc 2.28+ and libstdc++, which trixie has. Both tags exist in Docker's official-images manifest and
# are pinned: bump them deliberately, each with its tested twin (README "Bumping Node or HAProxy").
#
#   docker build -t rtmp-proxy .
#   docker run -e ECS_CLUSTER=servers -p 1935:1935 -p 8000:8000 rtmp-proxy

FROM node:26.7.0-trixie-slim AS node

# ---- build: compile the TypeScript (the daemon, and dev/ for the emulator stage) with every dependency ----
FROM node AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
COPY dev ./dev
RUN npx --no-install tsc -p tsconfig.json

# ---- production-deps: the daemon's dependencies only, for the production image ----
FROM node AS production-deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund

# ---- emulator: the ECS API emulator `docker compose up` runs in place of ECS. Development only: a
# separate target (docker-compose.yml builds it with `target: emulator`), never in the production image.
# It needs development dependencies (its Route 53 part parses XML with fast-xml-parser).
FROM node AS emulator
WORKDIR /app
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist/src ./dist/src
COPY --from=build /app/dist/dev/emulator ./dist/dev/emulator
USER node
EXPOSE 4566
ENTRYPOINT ["node", "/app/dist/dev/emulator/main.js"]

# ---- runtime: the production image (the default target); the daemon only, no development tooling ----
FROM haproxy:3.0.26-trixie AS runtime
USER root
# tini: a real init as PID 1 that reaps HAProxy's daemonized master and forwards signals to the daemon.
# setcap: HAProxy runs as the haproxy user yet may bind RTMPS's port 443 (RTMPS_PORT), and nothing else below 1024.
# Debian's package versions are not pinned: security updates would break a pinned build; the base tags are pinned.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini libstdc++6 libcap2-bin \
 && setcap cap_net_bind_service=+ep /usr/local/sbin/haproxy \
 && rm -rf /var/lib/apt/lists/*
COPY --from=node /usr/local/bin/node /usr/local/bin/node

WORKDIR /app
COPY --from=build /app/package.json ./package.json
COPY --from=production-deps /app/node_modules ./node_modules
COPY --from=build /app/dist/src ./dist/src
COPY templates ./templates
COPY src/entrypoint.sh ./src/entrypoint.sh

# The daemon writes haproxy.cfg where the HAProxy image expects it (atomically: temp file + rename in
# the same directory, so the directory itself is the user's); pidfile and sockets in a private run dir.
# `rtmp-proxy` on PATH, for `docker exec … rtmp-proxy status` as much as through the entrypoint.
RUN chmod 0755 /app/src/entrypoint.sh /app/dist/src/cli.js \
 && ln -s /app/dist/src/cli.js /usr/local/bin/rtmp-proxy \
 && mkdir -p /usr/local/etc/haproxy /var/run/rtmp-proxy \
 && chown haproxy:haproxy /usr/local/etc/haproxy /var/run/rtmp-proxy \
 && chmod 0755 /usr/local/etc/haproxy \
 && chmod 0700 /var/run/rtmp-proxy \
 && node --version \
 && haproxy -v

ENV NODE_ENV=production \
    RTMP_PROXY_HOME=/app

USER haproxy:haproxy
EXPOSE 1935 8000 443
# The HAProxy image stops with SIGUSR1 (HAProxy's soft stop); here the daemon is the process to stop,
# and it soft-stops HAProxy itself on SIGTERM, then exits 0.
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=3 \
  CMD ["/app/src/entrypoint.sh", "healthcheck"]
ENTRYPOINT ["/usr/bin/tini", "-s", "--", "/app/src/entrypoint.sh"]
CMD ["run"]
