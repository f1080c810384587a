#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { ConfigErrors, loadConfig, type Config } from './config.js';
import { createDiscovery } from './discovery/index.js';
import { createHaproxyProcess, startDaemon } from './daemon.js';
import { createLogger } from './log.js';
import { Syncer } from './sync.js';

const USAGE = `rtmp-proxy: keeps HAProxy routing RTMP streams to the running ECS Server tasks, one stream per Server.

Usage: rtmp-proxy <command> [--help]

Commands:
  run      Start HAProxy unless it runs, sync now and on SYNC_SCHEDULE, until SIGTERM or SIGINT.
  once     One sync (start or reload HAProxy as needed), then exit; non-zero exit when it failed.
  render   Print the haproxy.cfg the current fleet gives; changes nothing.

Configuration comes from the environment (see README.md): DISCOVERY, ECS_CLUSTER, ECS_SERVICE,
SERVER_PORT, SERVER_ADDRESS, STATIC_SERVERS, SYNC_SCHEDULE, APPLY_MODE, BIND_ADDRESS, RTMP_PORT,
HEALTH_PORT, HAPROXY_BIN, HAPROXY_CONFIG, HAPROXY_PIDFILE, HAPROXY_SOCKET, HAPROXY_MASTER_SOCKET,
HAPROXY_TEMPLATE, HEALTH_PAGE, SHUTDOWN_GRACE_SECONDS, LOG_LEVEL; AWS settings are the SDK's own
(AWS_REGION, credentials, AWS_ENDPOINT_URL_ECS, AWS_ENDPOINT_URL_EC2).
`;

const COMMAND_HELP: Record<string, string> = {
  run: `Usage: rtmp-proxy run

Starts HAProxy unless it already runs (pidfile HAPROXY_PIDFILE), syncs at once and then on
SYNC_SCHEDULE. SIGTERM or SIGINT: stop syncing, stop HAProxy's listeners, let live streams finish for
up to SHUTDOWN_GRACE_SECONDS, then exit 0.
`,
  once: `Usage: rtmp-proxy once

Runs one sync: discover the Servers, render the config, validate it with haproxy -c, then start
HAProxy or reload it when the config changed. Exit code 0 on success, 1 when the sync failed.
`,
  render: `Usage: rtmp-proxy render

Discovers the Servers and prints the haproxy.cfg they give to stdout. Starts, writes and reloads
nothing. Exit code 1 when discovery or rendering failed.
`,
};

async function main(argv: string[]): Promise<number> {
  const { positionals, values } = parseArgs({ args: argv, allowPositionals: true, strict: false, options: { help: { type: 'boolean', short: 'h' } } });
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

  let config: Config;
  try {
    config = loadConfig(process.env);
  } catch (e) {
    if (e instanceof ConfigErrors) {
      process.stderr.write(`rtmp-proxy: invalid configuration:\n${e.errors.map((x) => `  ${x.message}`).join('\n')}\n`);
      return 2;
    }
    throw e;
  }
  const logger = createLogger(config.logLevel);

  if (command === 'render') {
    const syncer = new Syncer({ config, discovery: createDiscovery(config, logger), haproxy: createHaproxyProcess(config, logger), logger });
    try {
      process.stdout.write(await syncer.render());
      return 0;
    } catch (e) {
      logger.error({ err: (e as Error).message, code: (e as { code?: string }).code }, 'render failed');
      return 1;
    }
  }

  if (command === 'once') {
    const syncer = new Syncer({ config, discovery: createDiscovery(config, logger), haproxy: createHaproxyProcess(config, logger), logger });
    const outcome = await syncer.sync();
    return outcome.ok ? 0 : 1;
  }

  // run
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
