// A daemon in a process of its own, so its RSS and CPU are the daemon's alone (the emulator and the
// bench run in the parent). Started by bench/sections/memory.ts; settings in BENCH_PROBE (JSON).
// Builds what the daemon builds (config, ECS discovery through the AWS SDK, HAProxy, Syncer), starts
// HAProxy with the fleet, then times steady-state syncs and prints one RESULT line of JSON.
import { readFile } from 'node:fs/promises';
import { ECSClient } from '@aws-sdk/client-ecs';
import { loadConfig } from '../src/config.js';
import { HaproxyDriver } from '../src/haproxy/driver.js';
import { createEcsDiscovery } from '../src/discovery/ecs.js';
import { silentLogger } from '../src/log.js';
import { createSyncer } from '../src/sync.js';

interface ProbeSettings {
  env: Record<string, string>;
  endpoint: string;
  region: string;
  syncs: number;
}

const mb = (bytes: number) => Math.round((bytes / 2 ** 20) * 10) / 10;

async function procRssMB(pid: number): Promise<number | undefined> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => undefined);
  const kb = status && /^VmRSS:\s+(\d+)\s+kB/m.exec(status)?.[1];
  return kb ? Math.round((Number(kb) / 1024) * 10) / 10 : undefined;
}

// The AWS SDK's one-off "Node 22 from 2027" notice: kept out of the probe's stderr.
process.removeAllListeners('warning');

async function main(): Promise<void> {
  const settings = JSON.parse(process.env.BENCH_PROBE ?? '') as ProbeSettings;
  const rssAtStart = mb(process.memoryUsage().rss);
  const config = loadConfig(settings.env);
  const logger = silentLogger();
  const ecs = new ECSClient({
    region: settings.region,
    endpoint: settings.endpoint,
    credentials: { accessKeyId: 'AKIDBENCH', secretAccessKey: 'bench-secret' },
    maxAttempts: 1,
  });
  const discovery = createEcsDiscovery({ cluster: config.ecsCluster!, serverPort: config.serverPort, addressMode: 'private', ecs, logger });
  const haproxy = HaproxyDriver.fromConfig(config, logger).process;
  const syncer = createSyncer(config, logger, discovery);
  try {
    const s0 = performance.now();
    const first = await syncer.sync();
    if (!first.ok) throw new Error(`first sync failed at ${first.stage}: ${first.error.message}`);
    const firstSyncMs = Math.round(performance.now() - s0);
    const rssAfterStart = mb(process.memoryUsage().rss);
    await syncer.sync(); // warm-up: the first steady sync
    const syncs: Array<{ action: string; wallMs: number; cpuUserMs: number; cpuSystemMs: number; rssMB: number; heapUsedMB: number }> = [];
    for (let i = 0; i < settings.syncs; i++) {
      const cpu0 = process.cpuUsage();
      const t = performance.now();
      const o = await syncer.sync();
      const wallMs = performance.now() - t;
      const cpu = process.cpuUsage(cpu0);
      if (!o.ok) throw new Error(`sync failed at ${o.stage}: ${o.error.message}`);
      const mem = process.memoryUsage();
      syncs.push({
        action: o.action,
        wallMs: Math.round(wallMs),
        cpuUserMs: Math.round(cpu.user / 1000),
        cpuSystemMs: Math.round(cpu.system / 1000),
        rssMB: mb(mem.rss),
        heapUsedMB: mb(mem.heapUsed),
      });
    }
    const { workerPids } = await haproxy.masterStatus();
    const haproxyWorkerRssMB = workerPids.length > 0 ? await procRssMB(workerPids[0]!) : undefined;
    const result = {
      servers: first.servers,
      rssAtStartMB: rssAtStart,
      rssAfterStartMB: rssAfterStart,
      firstSyncMs,
      syncs,
      peakRssMB: Math.max(rssAfterStart, ...syncs.map((s) => s.rssMB)),
      haproxyWorkerRssMB,
      execArgv: process.execArgv,
    };
    process.stdout.write(`RESULT ${JSON.stringify(result)}\n`);
  } finally {
    ecs.destroy();
    await haproxy.stop();
  }
}

main().then(
  () => process.exit(0),
  (e) => {
    process.stderr.write(`memory probe failed: ${(e as Error).stack ?? String(e)}\n`);
    process.exit(1);
  },
);
