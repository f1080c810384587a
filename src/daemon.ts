import cron from 'node-cron';
import type { Config } from './config.js';
import { createDiscovery } from './discovery/index.js';
import type { Discovery } from './discovery/types.js';
import { HaproxyProcess } from './haproxy/process.js';
import type { Logger } from './log.js';
import { Syncer, type SyncOutcome } from './sync.js';

export interface Daemon {
  readonly syncer: Syncer;
  readonly haproxy: HaproxyProcess;
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
    adminSocket: config.haproxySocket,
    logger,
  });
}

/** Syncs once now, then on SYNC_SCHEDULE; node-cron skips a tick while a sync still runs. */
export function startDaemon(config: Config, logger: Logger, discovery: Discovery = createDiscovery(config, logger)): Daemon {
  const haproxy = createHaproxyProcess(config, logger);
  const syncer = new Syncer({ config, discovery, haproxy, logger });
  const firstSync = syncer.sync();
  const task = cron.schedule(config.syncSchedule, () => syncer.sync(), { noOverlap: true, name: 'sync' });
  task.on('execution:overlap', () => logger.warn('previous sync still running; skipping this tick'));
  logger.info({ schedule: config.syncSchedule, discovery: config.discovery, applyMode: config.applyMode }, 'rtmp-proxy started');

  let stopping: Promise<void> | undefined;
  const stop = (opts: { stopHaproxy?: boolean } = {}) =>
    (stopping ??= (async () => {
      await task.stop();
      await task.destroy();
      await firstSync.catch(() => undefined);
      await syncer.whenIdle();
      if (opts.stopHaproxy) {
        logger.info({ graceSeconds: config.shutdownGraceSeconds }, 'stopping HAProxy: no new streams; live ones get the grace period');
        await haproxy.stop({ graceMs: config.shutdownGraceSeconds * 1000 });
      }
      logger.info('rtmp-proxy stopped');
    })());
  return { syncer, haproxy, firstSync, stop };
}
