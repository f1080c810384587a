// The daemon with ECS task events, in a process of its own, so its RSS is the daemon's alone (the
// emulator and the bench run in the parent). Started by bench/sections/events.ts; settings in
// BENCH_PROBE (JSON), the AWS endpoints (the emulator) in the environment it inherits.
//
// It runs startDaemon() as the CLI does (config from the environment, ECS discovery, SQS/SNS through
// the real SDK), samples its RSS every 50 ms, and talks to the parent by lines:
//   out: `UP {json}`      the first sync (the first full description) done and the queue answering
//   in:  `MARK <name>`    record RSS now under <name>
//   in:  `LIST`           one safety-net listing (the daemon's own ECS discovery), then out: `LISTED {json}`
//   in:  `SYNC`           a sync now (as the schedule would run it), then out: `SYNCED {json}`
//   in:  `STOP`           out: `RESULT {json}`, then the daemon stops (its queue removed, HAProxy stopped)
import { createInterface } from 'node:readline';
import { setTimeout as delay } from 'node:timers/promises';
import { loadConfig } from '../src/config.js';
import { startDaemon } from '../src/daemon.js';
import { createEcsDiscovery } from '../src/discovery/ecs.js';
import { silentLogger } from '../src/log.js';

interface ProbeSettings {
  env: Record<string, string>;
  /** Longest wait for the first sync and the queue (ms). */
  startTimeoutMs: number;
  /** Wait for the events queue to answer before `UP` (EVENTS_TOPIC_ARN set). */
  events: boolean;
}

const mb = (bytes: number) => Math.round((bytes / 2 ** 20) * 10) / 10;
/** process.resourceUsage().maxRSS is in kilobytes: the high-water mark of the whole life. */
const maxRssMB = () => Math.round((process.resourceUsage().maxRSS / 1024) * 10) / 10;

// The AWS SDK's one-off "Node 22 from 2027" notice: kept out of the probe's stderr.
process.removeAllListeners('warning');

async function main(): Promise<void> {
  const settings = JSON.parse(process.env.BENCH_PROBE ?? '') as ProbeSettings;
  const rssAtStartMB = mb(process.memoryUsage().rss);
  const config = loadConfig(settings.env);
  const logger = silentLogger();
  const listing = createEcsDiscovery({ cluster: config.ecsCluster!, serverPort: config.serverPort, addressMode: 'private', logger });
  let sampledPeakMB = rssAtStartMB;
  const sampler = setInterval(() => (sampledPeakMB = Math.max(sampledPeakMB, mb(process.memoryUsage().rss))), 50);
  const marks: Record<string, { rssMB: number; heapUsedMB: number; maxRssMB: number; at: number }> = {};
  const mark = (name: string) => {
    const m = process.memoryUsage();
    marks[name] = { rssMB: mb(m.rss), heapUsedMB: mb(m.heapUsed), maxRssMB: maxRssMB(), at: Math.round(performance.now()) };
  };
  const t0 = performance.now();
  const daemon = startDaemon(config, logger, listing);
  try {
    const first = await Promise.race([daemon.firstSync, delay(settings.startTimeoutMs).then(() => undefined)]);
    if (!first) throw new Error(`no first sync within ${settings.startTimeoutMs} ms`);
    if (!first.ok) throw new Error(`first sync failed at ${first.stage}: ${first.error.message}`);
    const firstSyncMs = Math.round(performance.now() - t0);
    mark('after-first-sync');
    if (settings.events) {
      for (let i = 0; i < settings.startTimeoutMs / 20 && !daemon.events?.eventsUp; i++) await delay(20);
      if (!daemon.events?.eventsUp) throw new Error('the events queue did not answer');
      mark('events-up');
    }
    process.stdout.write(`UP ${JSON.stringify({ firstSyncMs, servers: first.servers })}\n`);

    const lines = createInterface({ input: process.stdin });
    for await (const line of lines) {
      if (line.startsWith('MARK ')) mark(line.slice('MARK '.length));
      else if (line === 'LIST') {
        const t = performance.now();
        const listed = await listing.discover();
        process.stdout.write(`LISTED ${JSON.stringify({ ms: Math.round(performance.now() - t), servers: listed.servers.length })}\n`);
      } else if (line === 'SYNC') {
        const t = performance.now();
        const o = await daemon.syncNow();
        process.stdout.write(`SYNCED ${JSON.stringify({ ms: Math.round(performance.now() - t), ok: o.ok, ...(o.ok && { action: o.action }) })}\n`);
      } else if (line === 'STOP') break;
    }
    mark('end');
    clearInterval(sampler);
    const result = { rssAtStartMB, firstSyncMs, marks, sampledPeakMB, maxRssMB: maxRssMB() };
    process.stdout.write(`RESULT ${JSON.stringify(result)}\n`);
  } finally {
    clearInterval(sampler);
    await daemon.stop({ stopHaproxy: true });
  }
}

main().then(
  () => process.exit(0),
  (e) => {
    process.stderr.write(`events probe failed: ${(e as Error).stack ?? String(e)}\n`);
    process.exit(1);
  },
);
