#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { checkEnvironment, formatCheckReport, runChecks } from './check.js';
import { startDaemon } from './daemon.js';
import { createDiscovery } from './discovery/index.js';
import { HaproxyDriver } from './haproxy/driver.js';
import { createLogger } from './log.js';
import { ConfigRenderer, renderSettingsFrom } from './render/template.js';
import { formatStatus, readStatus, StatusUnavailableError } from './status.js';
import { createSyncer } from './sync.js';

const USAGE = `rtmp-proxy: keeps HAProxy routing RTMP streams to the running ECS Server tasks, one stream per Server.

Usage: rtmp-proxy <command> [--help]

Commands:
  run      Start HAProxy unless it runs, sync now and on SYNC_SCHEDULE, until SIGTERM or SIGINT.
  once     One sync (start or reload HAProxy as needed), then exit; non-zero exit when it failed.
  render   Print the haproxy.cfg the current fleet gives; changes nothing.
  status   Show each Server HAProxy routes to: address, state, whether a stream is on it and since when.
  check    Check the environment, the template and the config it renders (haproxy -c); changes nothing.

Configuration comes from the environment (see README.md): DISCOVERY, ECS_CLUSTER, ECS_SERVICE,
SERVER_PORT, SERVER_ADDRESS, SERVER_REQUIRE_HEALTHY, STATIC_SERVERS, SYNC_SCHEDULE, APPLY_MODE,
SERVER_DRAIN_TIMEOUT, BUSY_CHECK_PORT, BUSY_CHECK_PATH, BUSY_CHECK_PATTERN, MAX_DROP_PERCENT,
HEALTH_REQUIRE_CAPACITY, SERVER_SEND_PROXY, METRICS_PORT, HAPROXY_METRICS_PORT, TASK_PROTECTION,
PROTECTION_MINUTES, PROXY_SERVICE, PROXY_CLUSTER, PROXY_TASK_ARN, PEER_PORT, PEER_API_PORT,
EVENTS_TOPIC_ARN, EVENTS_QUEUE_URL, EVENTS_QUEUE_PREFIX, FULL_SYNC_INTERVAL, CAPACITY_METRICS,
CAPACITY_METRICS_PERIOD, CAPACITY_METRICS_NAMESPACE, RTMP_HANDSHAKE_TIMEOUT, SOURCE_MAX_STREAMS,
SOURCE_MAX_CONNECT_RATE, RTMPS_PORT, RTMPS_CERT_FILE, RTMPS_CERT,
BIND_ADDRESS, RTMP_PORT, HEALTH_PORT, HAPROXY_BIN, HAPROXY_CONFIG,
HAPROXY_PIDFILE, HAPROXY_SOCKET, HAPROXY_MASTER_SOCKET, HAPROXY_HEALTH_MAP, HAPROXY_TEMPLATE,
HEALTH_PAGE, SHUTDOWN_GRACE_SECONDS, LOG_LEVEL, LOG_FORMAT; AWS settings are the SDK's own
(AWS_REGION, credentials, AWS_ENDPOINT_URL_ECS, AWS_ENDPOINT_URL_EC2, AWS_ENDPOINT_URL_SQS,
AWS_ENDPOINT_URL_SNS, AWS_ENDPOINT_URL_CLOUDWATCH).
`;

const COMMAND_HELP: Record<string, string> = {
  run: `Usage: rtmp-proxy run

Starts HAProxy unless it already runs (pidfile HAPROXY_PIDFILE), syncs at once and then on
SYNC_SCHEDULE. SIGTERM or SIGINT: the health page answers 503 at once, syncing stops, live streams
go on until they end or SHUTDOWN_GRACE_SECONDS passes, then HAProxy stops and the daemon exits 0.
`,
  once: `Usage: rtmp-proxy once

Runs one sync: discover the Servers, render the config, validate it with haproxy -c, then start
HAProxy or reload it when the config changed. Exit code 0 on success, 1 when the sync failed.
`,
  render: `Usage: rtmp-proxy render

Discovers the Servers and prints the haproxy.cfg they give to stdout. Starts, writes and reloads
nothing. Exit code 1 when discovery or rendering failed.
`,
  status: `Usage: rtmp-proxy status [--json]

Reads the running HAProxy (admin socket HAPROXY_SOCKET, master CLI HAPROXY_MASTER_SOCKET, pidfile
HAPROXY_PIDFILE) and prints one line per Server in bk_rtmp: its address, HAProxy's state (UP, DOWN,
MAINT, DRAIN, ...), whether a stream is on it and since when, and why it takes no new stream
(maintenance: draining or held). Streams that old workers (left by reloads) still carry are counted
too. A header line gives the master's pid, its workers, reloads, streams and free Servers.
Changes nothing.

  --json   machine-readable output: the same facts, with HAProxy's raw fields

Exit code 0, 1 when HAProxy is not running or does not answer, 2 for bad configuration.
`,
  check: `Usage: rtmp-proxy check

Checks that this Proxy can run, one line per check: the environment (every variable), HAProxy
(HAPROXY_BIN, version 2.6 or newer), the directories HAProxy and the daemon write to, the health
page (HEALTH_PAGE), the template (HAPROXY_TEMPLATE, rendered for a placeholder fleet of one Server at
127.0.0.1:SERVER_PORT; no AWS call), and the rendered config with haproxy -c in a temp directory.
HAPROXY_CONFIG and a running HAProxy are left alone.

Exit code 0 when every check passes, 1 when one fails, 2 when the environment is invalid.
`,
};

async function main(argv: string[]): Promise<number> {
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: false,
    options: { help: { type: 'boolean', short: 'h' }, json: { type: 'boolean' } },
  });
  const command = positionals[0];
  if (command === undefined || command === 'help') {
    process.stdout.write(USAGE);
    return command === undefined && !values.help ? 2 : 0;
  }
  const help = COMMAND_HELP[command];
  if (help === undefined) {
    process.stderr.write(`rtmp-proxy: unknown command "${command}"\n\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(help);
    return 0;
  }

  if (command === 'check') {
    const report = await runChecks(process.env);
    process.stdout.write(formatCheckReport(report));
    return report.exitCode;
  }

  // Every bad setting at once: config.ts's variables and LOG_FORMAT (the logger's own).
  const { config, logFormat, errors } = checkEnvironment(process.env, { isTTY: process.stdout.isTTY });
  if (config === undefined || logFormat === undefined) {
    process.stderr.write(`rtmp-proxy: invalid configuration:\n${errors.map((x) => `  ${x.message}`).join('\n')}\n`);
    return 2;
  }

  if (command === 'status') {
    try {
      const report = await readStatus(config);
      process.stdout.write(values.json ? `${JSON.stringify(report, null, 2)}\n` : formatStatus(report));
      return 0;
    } catch (e) {
      if (!(e instanceof StatusUnavailableError)) throw e;
      process.stderr.write(`rtmp-proxy status: ${e.message}\n`);
      return 1;
    }
  }

  const logger = createLogger(config.logLevel, undefined, logFormat);

  if (command === 'render') {
    try {
      const { servers } = await createDiscovery(config, logger).discover();
      const renderer = new ConfigRenderer(config.haproxyTemplate, renderSettingsFrom(config));
      await renderer.load();
      process.stdout.write(renderer.render(servers.map((s) => ({ ...s, draining: false }))));
      return 0;
    } catch (e) {
      logger.error({ err: (e as Error).message, code: (e as { code?: string }).code }, 'render failed');
      return 1;
    }
  }

  if (command === 'once') {
    const outcome = await createSyncer(config, logger, createDiscovery(config, logger)).sync();
    return outcome.ok ? 0 : 1;
  }

  // run: refuse to start beside another process on our ports (a leftover HAProxy would share streamers).
  const haproxy = HaproxyDriver.fromConfig(config, logger).process;
  if ((await haproxy.runningPid()) === undefined) {
    const taken = await haproxy.takenPorts();
    if (taken.length > 0) {
      process.stderr.write(`rtmp-proxy: not starting:\n${taken.map((m) => `  ${m}`).join('\n')}\n`);
      return 1;
    }
  }
  const daemon = startDaemon(config, logger);
  await new Promise<void>((resolve) => {
    const onSignal = (signal: NodeJS.Signals) => {
      logger.info({ signal }, 'shutting down');
      process.removeAllListeners('SIGTERM').removeAllListeners('SIGINT');
      daemon.stop({ stopHaproxy: true }).then(resolve, (e) => {
        logger.error({ err: (e as Error).message }, 'shutdown failed');
        resolve();
      });
    };
    process.once('SIGTERM', onSignal);
    process.once('SIGINT', onSignal);
  });
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => (process.exitCode = code),
  (e) => {
    process.stderr.write(`rtmp-proxy: ${(e as Error).stack ?? String(e)}\n`);
    process.exitCode = 1;
  },
);
