import cron from 'node-cron';
import type { Config } from './config.js';
import { createDiscovery } from './discovery/index.js';
import type { Discovery } from './discovery/types.js';
import { ensureHealthMap } from './haproxy/health-state.js';
import { HaproxyProcess } from './haproxy/process.js';
import { RuntimeApi } from './haproxy/runtime-api.js';
import { maxconnUnderBursts, parseVersion } from './haproxy/version.js';
import { RTMP_FRONTEND } from './render/render.js';
import type { Logger } from './log.js';
import { Metrics } from './metrics.js';
import { createTaskProtector } from './aws/task-protection.js';
import { Syncer, type SyncOutcome } from './sync.js';

export interface Daemon {
  readonly syncer: Syncer;
  readonly haproxy: HaproxyProcess;
  readonly metrics: Metrics;
  /** A sync now, outside the schedule, observed like a scheduled one (metrics). */
  syncNow(): Promise<SyncOutcome>;
  /** The first sync's outcome (the daemon keeps running and retrying even when it failed). */
  readonly firstSync: Promise<SyncOutcome>;
  /** Stops syncing; with `stopHaproxy`, lets live streams finish for up to the grace period, then stops HAProxy. */
  stop(opts?: { stopHaproxy?: boolean }): Promise<void>;
}

export function createHaproxyProcess(config: Config, logger: Logger): HaproxyProcess {
  return new HaproxyProcess({
    bin: config.haproxyBin,
    configPath: config.haproxyConfig,
    pidfile: config.haproxyPidfile,
    masterSocket: config.haproxyMasterSocket,
    logger,
    listeners: [
      { variable: 'RTMP_PORT', address: config.bindAddress, port: config.rtmpPort },
      { variable: 'HEALTH_PORT', address: config.bindAddress, port: config.healthPort },
      ...(config.haproxyMetricsPort !== undefined ? [{ variable: 'HAPROXY_METRICS_PORT', address: config.bindAddress, port: config.haproxyMetricsPort }] : []),
    ],
  });
}

/** Syncs once now, then on SYNC_SCHEDULE; node-cron skips a tick while a sync still runs. */
export function startDaemon(config: Config, logger: Logger, discovery: Discovery = createDiscovery(config, logger)): Daemon {
  const haproxy = createHaproxyProcess(config, logger);
  const runtime = new RuntimeApi(config.haproxySocket);
  const syncer = new Syncer({ config, discovery, haproxy, logger });
  const protector = config.taskProtection
    ? createTaskProtector({ cluster: config.ecsCluster!, minutes: config.protectionMinutes, logger })
    : undefined;
  const metrics = new Metrics({ backend: () => syncer.backendState(), configPath: config.haproxyConfig, logger });
  /** Every sync's outcome goes to the metrics (awaited: a scrape after a sync sees it) and the protector. */
  const observed = async (outcome: SyncOutcome) => {
    await metrics.observeSync(outcome).catch((e) => logger.debug({ err: (e as Error).message }, 'metrics not updated'));
    // Not awaited: under throttling a protection call may take seconds; it never throws.
    if (outcome.ok && protector) void protector.update(outcome.backend);
    return outcome;
  };
  const syncAndObserve = async () => observed(await syncer.sync());
  // Until this daemon's first successful sync the health page answers 503 (the Syncer turns it to 200).
  const firstSync = ensureHealthMap(config.haproxyHealthMap, 'down').then(async () => {
    if ((await haproxy.runningPid()) !== undefined) await syncer.setHealth('down').catch(() => undefined);
    return syncAndObserve();
  });
  const metricsServer =
    config.metricsPort === undefined
      ? Promise.resolve(undefined)
      : metrics.serve(config.bindAddress, config.metricsPort).then(
          (s) => {
            logger.info({ url: s.url }, 'metrics served');
            return s;
          },
          (e) => {
            logger.error({ err: (e as Error).message, variable: 'METRICS_PORT', port: config.metricsPort }, 'metrics server could not listen; running without metrics');
            return undefined;
          },
        );
  const task = cron.schedule(config.syncSchedule, syncAndObserve, { noOverlap: true, name: 'sync' });
  task.on('execution:overlap', () => logger.warn('previous sync still running; skipping this tick'));
  logger.info({ schedule: config.syncSchedule, discovery: config.discovery, applyMode: config.applyMode }, 'rtmp-proxy started');
  void warnOnAffectedVersion(haproxy, logger);

  let stopping: Promise<void> | undefined;
  const stop = (opts: { stopHaproxy?: boolean } = {}) =>
    (stopping ??= (async () => {
      const deadline = Date.now() + config.shutdownGraceSeconds * 1000;
      // Protection of streams still flowing is left to run out, not lifted.
      protector?.shutdown();
      if (opts.stopHaproxy) {
        // First, so Route53 stops sending streamers here while the live ones go on.
        await syncer.holdHealthDown().then(
          () => logger.info('shutting down: the health page answers 503'),
          (e) => logger.warn({ err: (e as Error).message }, 'shutting down: could not turn the health page to 503'),
        );
      }
      await task.stop();
      await task.destroy();
      await firstSync.catch(() => undefined);
      await syncer.whenIdle();
      if (opts.stopHaproxy) {
        const live = await waitForStreamsToEnd(haproxy, runtime, deadline);
        if (live > 0) logger.warn({ streams: live, graceSeconds: config.shutdownGraceSeconds }, 'streams outlasted SHUTDOWN_GRACE_SECONDS: stopping HAProxy cuts them');
        await haproxy.stop({ graceMs: Math.max(0, deadline - Date.now()) });
      }
      await (await metricsServer)?.close();
      logger.info('rtmp-proxy stopped');
    })());
  return { syncer, haproxy, metrics, firstSync, stop, syncNow: syncAndObserve };
}

/** Says once, at start-up, when this HAProxy cannot keep maxconn 1 under bursts. */
async function warnOnAffectedVersion(haproxy: HaproxyProcess, logger: Logger): Promise<void> {
  const text = await haproxy.version().catch(() => undefined);
  const version = text === undefined ? undefined : parseVersion(text);
  if (version === undefined) return; // a missing binary is reported by the first sync
  const verdict = maxconnUnderBursts(version);
  if (verdict.holds) logger.info({ haproxyVersion: version.text }, 'haproxy version');
  else logger.warn({ haproxyVersion: version.text, fixedIn: verdict.fixedIn }, verdict.reason);
}

/** Streams still flowing (current worker plus old ones) once they all ended or the deadline passed. */
async function waitForStreamsToEnd(haproxy: HaproxyProcess, runtime: RuntimeApi, deadline: number): Promise<number> {
  for (;;) {
    let live: number;
    try {
      const { oldWorkerPids } = await haproxy.masterStatus();
      live = (await runtime.frontendSessions(RTMP_FRONTEND)) + oldWorkerPids.length;
    } catch {
      return 0; // HAProxy is not answering: nothing left to wait for
    }
    if (live === 0 || Date.now() >= deadline) return live;
    await new Promise((r) => setTimeout(r, Math.min(500, Math.max(1, deadline - Date.now()))));
  }
}
