// Section 1: convergence. The real daemon (startDaemon: node-cron schedule, ECS discovery through the
// real AWS SDK against the emulator). A task is listed as PENDING, then, at a random phase of the
// schedule, turns RUNNING; we time from that moment until a new connection through HAProxy is greeted
// by that task's own TCP backend (a fresh loopback address per trial).
import { setTimeout as delay } from 'node:timers/promises';
import { ECSClient } from '@aws-sdk/client-ecs';
import type { ApplyMode } from '../../src/config.js';
import { startDaemon, type Daemon } from '../../src/daemon.js';
import { createEcsDiscovery } from '../../src/discovery/ecs.js';
import { startEcsEmulator, type EcsEmulator } from '../../dev/emulator/ecs-emulator.js';
import { greetingVia } from '../../test/helpers/tcp-backends.js';
import {
  bounded,
  createProxy,
  logger,
  median,
  percentile,
  ratio,
  round,
  spareAddress,
  startCountingBackend,
  yesNo,
  type BenchContext,
  type CountingBackend,
} from '../lib.js';

const BACKEND_PORT = 19421;
const CLUSTER = 'bench-convergence';
const CREDENTIALS = { accessKeyId: 'AKIDBENCH', secretAccessKey: 'bench-secret' };

interface Schedule {
  label: string;
  cron: string;
  intervalMs: number;
}
const DEFAULT_SCHEDULE: Schedule = { label: 'default */10 s', cron: '*/10 * * * * *', intervalMs: 10_000 };
const ONE_SECOND: Schedule = { label: '1 s', cron: '* * * * * *', intervalMs: 1000 };

export interface ConvergenceResult {
  mode: ApplyMode;
  schedule: string;
  intervalMs: number;
  trials: number;
  /** Milliseconds from RUNNING to the first connection greeted by the new task, one per trial. */
  samplesMs: number[];
  failures: number;
  p50: number;
  p99: number;
  max: number;
}

async function measure(emu: EcsEmulator, mode: ApplyMode, schedule: Schedule, trials: number, block: number, ctx: BenchContext): Promise<ConvergenceResult> {
  const bind = spareAddress(210 + block);
  const rtmpPort = 19401 + block;
  const proxy = await createProxy({
    applyMode: mode,
    bind,
    rtmpPort,
    healthPort: 18401 + block,
    env: { DISCOVERY: 'ecs', ECS_CLUSTER: CLUSTER, SERVER_PORT: String(BACKEND_PORT), SYNC_SCHEDULE: schedule.cron },
  });
  const backends: CountingBackend[] = [];
  const ecs = new ECSClient({ region: emu.region, endpoint: emu.url, credentials: CREDENTIALS, maxAttempts: 2 });
  const discovery = createEcsDiscovery({ cluster: CLUSTER, serverPort: BACKEND_PORT, addressMode: 'private', ecs, logger, callTimeoutMs: 5000 });
  let daemon: Daemon | undefined;
  const samples: number[] = [];
  let failures = 0;
  try {
    daemon = startDaemon(proxy.config, logger, discovery);
    const first = await bounded(daemon.firstSync, 30_000, 'first sync');
    if (!first.ok) throw new Error(`first sync failed: ${first.error.message}`);
    for (let t = 0; t < trials; t++) {
      // A fresh address per trial: 127.0.(61+block).(t+1).
      const address = `127.0.${61 + block}.${t + 1}`;
      backends.push(await startCountingBackend(address, BACKEND_PORT));
      const arn = emu.addTask({ cluster: CLUSTER, address, lastStatus: 'PENDING' });
      // A random phase of the schedule, so trials do not all start just after a tick.
      await delay(Math.random() * schedule.intervalMs);
      const t0 = performance.now();
      emu.setTask(arn, { lastStatus: 'RUNNING' });
      const deadline = t0 + schedule.intervalMs + 20_000;
      let converged: number | undefined;
      for (let probe = 0; probe < 100_000 && performance.now() < deadline; probe++) {
        const greeting = await greetingVia(bind, rtmpPort, 1000).catch(() => undefined);
        if (greeting === address) {
          converged = performance.now() - t0;
          break;
        }
        await delay(10);
      }
      if (converged === undefined) failures++;
      else samples.push(round(converged, 0));
      emu.removeTask(arn);
      ctx.progress(`convergence ${mode} ${schedule.label}: trial ${t + 1}/${trials}: ${converged === undefined ? 'did not converge' : `${Math.round(converged)} ms`}`);
    }
  } finally {
    await daemon?.stop().catch(() => undefined);
    ecs.destroy();
    await proxy.close();
    await Promise.all(backends.map((b) => b.close()));
  }
  return {
    mode,
    schedule: schedule.label,
    intervalMs: schedule.intervalMs,
    trials,
    samplesMs: samples,
    failures,
    p50: median(samples),
    p99: percentile(samples, 0.99),
    max: Math.max(...samples),
  };
}

export async function runConvergence(ctx: BenchContext) {
  const trials = ctx.quick ? 5 : 20;
  const schedules = ctx.quick ? [ONE_SECOND] : [DEFAULT_SCHEDULE, ONE_SECOND];
  const emu = await startEcsEmulator({ host: '127.0.0.1', port: 0 });
  emu.addCluster(CLUSTER);
  const results: ConvergenceResult[] = [];
  try {
    let block = 0;
    for (const schedule of schedules) {
      for (const mode of ['reload', 'runtime'] as const) {
        results.push(await measure(emu, mode, schedule, trials, block++, ctx));
      }
    }
  } finally {
    await emu.close();
  }
  const rows: string[][] = [];
  for (const schedule of schedules) {
    const seed = results.find((r) => r.mode === 'reload' && r.schedule === schedule.label)!;
    const ours = results.find((r) => r.mode === 'runtime' && r.schedule === schedule.label)!;
    for (const r of [seed, ours]) {
      const target = r.intervalMs + 1000;
      rows.push([
        schedule.label,
        r.mode === 'reload' ? 'seed (reload)' : 'ours (runtime)',
        `${r.samplesMs.length}/${r.trials}`,
        String(r.p50),
        String(r.p99),
        r.mode === 'runtime' ? ratio(seed.p50, ours.p50) : '',
        r.mode === 'runtime' ? ratio(seed.p99, ours.p99) : '',
        `p99 ≤ ${target}`,
        r.failures > 0 ? 'NO (did not converge)' : `${yesNo(r.p99 <= target)}${r.p99 > target ? ` (+${r.p99 - target} ms)` : ''}`,
      ]);
    }
  }
  ctx.table({
    section: '1',
    title: 'Convergence: task RUNNING in ECS → a new connection reaches it through HAProxy (ms)',
    headers: ['schedule', 'approach', 'converged', 'p50', 'p99', 'p50 seed/ours', 'p99 seed/ours', 'target', 'met?'],
    rows,
    notes: [
      'The real daemon (node-cron) with ECS discovery through the AWS SDK against the emulator; each trial starts at a random phase of the schedule.',
      `Probes: a new connection every ~10 ms after RUNNING; p99 is nearest-rank (with ${trials} trials, the slowest trial).`,
    ],
  });
  return results;
}
