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
//   in:  `WRITTEN`        waits for the config file's background write, then out: `WRITTEN {}`
//   out: `LOG <ms> {json}` with forwardLog: each log line, stamped with the epoch time in ms
//   in:  `STOP`           out: `RESULT {json}`, then the daemon stops (its queue removed, HAProxy stopped)
import { readFileSync, writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { setTimeout as delay } from 'node:timers/promises';
import { getHeapSpaceStatistics, writeHeapSnapshot } from 'node:v8';
import { loadConfig } from '../src/config.js';
import { startDaemon } from '../src/daemon.js';
import { createEcsDiscovery } from '../src/discovery/ecs.js';
import { silentLogger } from '../src/log.js';
import { pino } from 'pino';

interface ProbeSettings {
  env: Record<string, string>;
  /** Longest wait for the first sync and the queue (ms). */
  startTimeoutMs: number;
  /** Wait for the events queue to answer before `UP` (EVENTS_TOPIC_ARN set). */
  events: boolean;
  /** The daemon's log (debug) to stdout as `LOG <epoch ms> <json>` lines, for the parent to time steps by. */
  forwardLog?: boolean;
}

const mb = (bytes: number) => Math.round((bytes / 2 ** 20) * 10) / 10;
/** process.resourceUsage().maxRSS is in kilobytes: the high-water mark of the whole life. */
const maxRssMB = () => Math.round((process.resourceUsage().maxRSS / 1024) * 10) / 10;

// The AWS SDK's one-off "Node 22 from 2027" notice: kept out of the probe's stderr.
process.removeAllListeners('warning');

/**
 * Where the RSS is, MB: V8's heap (committed per space; `new` is the young generation's semi-spaces),
 * memory outside it (`external`, of which `arrayBuffers`: Buffers), and the rest of the RSS (`native`:
 * code, stacks, malloc arenas, freed memory not yet returned to the system).
 */
export interface Breakdown {
  rssMB: number;
  heapTotalMB: number;
  heapUsedMB: number;
  externalMB: number;
  arrayBuffersMB: number;
  nativeMB: number;
  /** Committed (physical) size of each V8 heap space. */
  spacesMB: Record<string, number>;
  /** RSS by kind (/proc/self/status): anonymous memory, and pages of mapped files (the node binary's code). */
  rssAnonMB?: number;
  rssFileMB?: number;
}

/** RssAnon and RssFile from /proc/self/status (Linux), MB. */
function rssKinds(): { rssAnonMB?: number; rssFileMB?: number } {
  let status: string;
  try {
    status = readFileSync('/proc/self/status', 'utf8');
  } catch {
    return {};
  }
  const kb = (key: string) => new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1];
  const [anon, file] = [kb('RssAnon'), kb('RssFile')];
  return { ...(anon !== undefined && { rssAnonMB: mb(Number(anon) * 1024) }), ...(file !== undefined && { rssFileMB: mb(Number(file) * 1024) }) };
}

function breakdown(): Breakdown {
  const m = process.memoryUsage();
  const spacesMB: Record<string, number> = {};
  for (const s of getHeapSpaceStatistics()) spacesMB[s.space_name.replace(/_space$/, '')] = mb(s.physical_space_size);
  return {
    rssMB: mb(m.rss),
    heapTotalMB: mb(m.heapTotal),
    heapUsedMB: mb(m.heapUsed),
    externalMB: mb(m.external),
    arrayBuffersMB: mb(m.arrayBuffers),
    nativeMB: mb(m.rss - m.heapTotal - m.external),
    spacesMB,
    ...rssKinds(),
  };
}

/**
 * Development aid (BENCH_PROBE_HEAP_SAMPLING=<file>): V8's sampling heap profiler counting every
 * allocation, also those already collected, so the sites that make the peaks show, not only what is
 * still alive at the end. Writes the top allocation sites by bytes to the file.
 */
async function startAllocationSampling(): Promise<{ stop(file: string): Promise<void> }> {
  const { Session } = await import('node:inspector/promises');
  const { writeFile } = await import('node:fs/promises');
  const session = new Session();
  session.connect();
  await session.post('HeapProfiler.startSampling', { samplingInterval: 32768, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
  return {
    async stop(file) {
      const { profile } = (await session.post('HeapProfiler.stopSampling')) as { profile: { head: SamplingNode } };
      const bySite = new Map<string, number>();
      const walk = (n: SamplingNode, stack: string[]) => {
        const f = n.callFrame;
        const here = `${f.functionName || '(anon)'} ${f.url.replace(/^.*\/(node_modules|dist)\//, '$1/')}:${f.lineNumber + 1}`;
        const path = [...stack, here].slice(-6);
        if (n.selfSize > 0) bySite.set(path.join(' < '), (bySite.get(path.join(' < ')) ?? 0) + n.selfSize);
        for (const c of n.children) walk(c, path);
      };
      walk(profile.head, []);
      const top = [...bySite].sort((a, b) => b[1] - a[1]).slice(0, 60);
      await writeFile(file, top.map(([k, v]) => `${mb(v)} MB  ${k.split(' < ').reverse().join(' < ')}`).join('\n') + '\n');
      session.disconnect();
    },
  };
}

interface SamplingNode {
  callFrame: { functionName: string; url: string; lineNumber: number };
  selfSize: number;
  children: SamplingNode[];
}

async function main(): Promise<void> {
  const settings = JSON.parse(process.env.BENCH_PROBE ?? '') as ProbeSettings;
  const rssAtStartMB = mb(process.memoryUsage().rss);
  const config = loadConfig(settings.env);
  // Development aid (BENCH_PROBE_TIMELINE=<file>): the daemon's log (debug), the RSS sampled every
  // 50 ms and V8's garbage collections, interleaved in one file by time (ms), to see which step makes a
  // peak or a slow change.
  const timeline = process.env.BENCH_PROBE_TIMELINE;
  const timelineLines: string[] = [];
  const toTimeline = (line: string) => void (timeline && timelineLines.push(`${performance.now().toFixed(1)} log ${line.trimEnd()}`));
  const gcObserver = timeline
    ? new PerformanceObserver((list) => {
        for (const e of list.getEntries()) timelineLines.push(`${e.startTime.toFixed(1)} gc ${e.duration.toFixed(2)} ms kind ${((e as PerformanceEntry & { detail?: { kind?: number } }).detail)?.kind ?? '?'}`);
      })
    : undefined;
  gcObserver?.observe({ entryTypes: ['gc'] });
  const logger = settings.forwardLog
    ? pino({ level: 'debug', base: null, timestamp: false }, {
        write: (line: string) => {
          process.stdout.write(`LOG ${(performance.timeOrigin + performance.now()).toFixed(3)} ${line}`);
          toTimeline(line);
        },
      })
    : timeline
      ? pino({ level: 'debug', base: null, timestamp: false }, { write: toTimeline })
      : silentLogger();
  const listing = createEcsDiscovery({ cluster: config.ecsCluster!, serverPort: config.serverPort, addressMode: 'private', logger });
  const marks: Record<string, Breakdown & { maxRssMB: number; at: number }> = {};
  const mark = (name: string) => (marks[name] = { ...breakdown(), maxRssMB: maxRssMB(), at: Math.round(performance.now()) });
  mark('start');
  // The breakdown at the highest sampled RSS, to tell what the peak is made of.
  let sampledPeak: Breakdown & { at: number } = { ...marks.start!, at: 0 };
  const sampler = setInterval(() => {
    if (process.memoryUsage.rss() > sampledPeak.rssMB * 2 ** 20) sampledPeak = { ...breakdown(), at: Math.round(performance.now()) };
    if (timeline) {
      const m = process.memoryUsage();
      timelineLines.push(`${performance.now().toFixed(1)} rss ${mb(m.rss)} heapTotal ${mb(m.heapTotal)} heapUsed ${mb(m.heapUsed)}`);
    }
  }, 50);
  const sampling = process.env.BENCH_PROBE_HEAP_SAMPLING ? await startAllocationSampling() : undefined;
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
      if (line.startsWith('MARK ')) {
        mark(line.slice('MARK '.length));
        // Development aid: a heap snapshot at the steady mark (BENCH_PROBE_HEAP_SNAPSHOT=<file>).
        if (line === 'MARK idle-end' && process.env.BENCH_PROBE_HEAP_SNAPSHOT) writeHeapSnapshot(process.env.BENCH_PROBE_HEAP_SNAPSHOT);
      }
      else if (line === 'LIST') {
        const t = performance.now();
        const listed = await listing.discover();
        process.stdout.write(`LISTED ${JSON.stringify({ ms: Math.round(performance.now() - t), servers: listed.servers.length })}\n`);
      } else if (line === 'SYNC') {
        const t = performance.now();
        const o = await daemon.syncNow();
        process.stdout.write(`SYNCED ${JSON.stringify({ ms: Math.round(performance.now() - t), ok: o.ok, ...(o.ok && { action: o.action }) })}\n`);
      } else if (line === 'WRITTEN') {
        await daemon.driver.configWritten();
        process.stdout.write('WRITTEN {}\n');
      } else if (line === 'STOP') break;
    }
    mark('end');
    clearInterval(sampler);
    if (sampling) await sampling.stop(process.env.BENCH_PROBE_HEAP_SAMPLING!);
    gcObserver?.disconnect();
    if (timeline) writeFileSync(timeline, `${timelineLines.sort((a, b) => parseFloat(a) - parseFloat(b)).join('\n')}\n`);
    const result = { rssAtStartMB, firstSyncMs, marks, sampledPeakMB: sampledPeak.rssMB, sampledPeak, maxRssMB: maxRssMB(), execArgv: process.execArgv };
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
