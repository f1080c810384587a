// Section 4: AWS calls per steady-state sync. The real ECS discovery (AWS SDK over HTTP) against the
// emulator holding N RUNNING tasks; the emulator's own call log counts what each discovery sends.
// The cached alternative (describe only task ARNs not seen before) does not exist in src/ yet: its
// figures are COMPUTED from the ListTasks page size, not measured.
import { ECSClient } from '@aws-sdk/client-ecs';
import { createEcsDiscovery } from '../../src/discovery/ecs.js';
import { startEcsEmulator } from '../../src/emulator/ecs-emulator.js';
import { bounded, fleetAddress, logger, median, ratio, round, yesNo, type BenchContext } from '../lib.js';

const CREDENTIALS = { accessKeyId: 'AKIDBENCH', secretAccessKey: 'bench-secret' };
const PAGE = 100;

export interface AwsCallsResult {
  tasks: number;
  syncs: number;
  /** Per steady-state sync, measured (the same every sync; the median is reported). */
  listTasks: number;
  describeTasks: number;
  other: number;
  discoverMs: number[];
  servers: number;
  /** Computed for a description cache in steady state: ListTasks pages only. */
  cachedListTasks: number;
  cachedDescribeTasks: number;
}

export async function runAwsCalls(ctx: BenchContext) {
  const sizes = [100, 1000, 5000];
  const syncs = ctx.quick ? 2 : 5;
  const emu = await startEcsEmulator({ host: '127.0.0.1', port: 0 });
  const ecs = new ECSClient({ region: emu.region, endpoint: emu.url, credentials: CREDENTIALS, maxAttempts: 1 });
  const results: AwsCallsResult[] = [];
  try {
    for (const n of sizes) {
      const cluster = `bench-aws-${n}`;
      for (let i = 0; i < n; i++) emu.addTask({ cluster, address: fleetAddress(i) });
      const discovery = createEcsDiscovery({ cluster, serverPort: 19460, addressMode: 'private', ecs, logger, callTimeoutMs: 30_000 });
      // The first sync sees every task for the first time (a cache would describe them all too).
      const first = await bounded(discovery.discover(), 120_000, `first discovery of ${n} tasks`);
      if (first.servers.length !== n) throw new Error(`discovered ${first.servers.length} of ${n} servers`);
      const perSync: Array<Record<string, number>> = [];
      const times: number[] = [];
      for (let s = 0; s < syncs; s++) {
        const before = emu.calls().length;
        const t = performance.now();
        await bounded(discovery.discover(), 120_000, `discovery of ${n} tasks`);
        times.push(round(performance.now() - t, 1));
        const counts: Record<string, number> = {};
        for (const c of emu.calls().slice(before)) counts[c.action] = (counts[c.action] ?? 0) + 1;
        perSync.push(counts);
      }
      const med = (action: string) => median(perSync.map((c) => c[action] ?? 0));
      const other = median(perSync.map((c) => Object.entries(c).reduce((m, [a, k]) => (a === 'ListTasks' || a === 'DescribeTasks' ? m : m + k), 0)));
      results.push({
        tasks: n,
        syncs,
        listTasks: med('ListTasks'),
        describeTasks: med('DescribeTasks'),
        other,
        discoverMs: times,
        servers: first.servers.length,
        cachedListTasks: Math.ceil(n / PAGE),
        cachedDescribeTasks: 0,
      });
      ctx.progress(`aws calls N=${n}: ${med('ListTasks')} ListTasks + ${med('DescribeTasks')} DescribeTasks per sync`);
    }
  } finally {
    ecs.destroy();
    await emu.close();
  }
  ctx.table({
    section: '4',
    title: 'AWS calls per steady-state sync (no fleet change)',
    headers: [
      'tasks',
      'ListTasks (measured)',
      'DescribeTasks (measured)',
      'calls now',
      'discovery ms (median)',
      'with a description cache (COMPUTED)',
      'now/cached',
      'target',
      'met now?',
      'met with cache?',
    ],
    rows: results.map((r) => {
      const now = r.listTasks + r.describeTasks + r.other;
      const cached = r.cachedListTasks + r.cachedDescribeTasks;
      const listTarget = Math.ceil(r.tasks / PAGE);
      return [
        String(r.tasks),
        String(r.listTasks),
        String(r.describeTasks),
        String(now),
        String(median(r.discoverMs)),
        `${r.cachedListTasks} ListTasks + 0 DescribeTasks = ${cached}`,
        ratio(now, cached),
        `${listTarget} ListTasks, 0 DescribeTasks`,
        `${yesNo(r.listTasks <= listTarget && r.describeTasks === 0)}${r.describeTasks > 0 ? ` (+${r.describeTasks} DescribeTasks)` : ''}`,
        'yes (computed)',
      ];
    }),
    notes: [
      'Measured: the emulator\'s call log around each discover() of the real ECS discovery (src/discovery/ecs.ts), which describes every listed task on every sync.',
      'COMPUTED, not measured: a cache of task descriptions keyed by ARN would send only the ListTasks pages (ceil(N/100)) in steady state, plus one DescribeTasks per 100 new ARNs when tasks join. No such cache exists in src/ yet.',
      'Caveat for such a cache: a task that stays listed can still change (lastStatus, health, ENI detach while stopping); a cache must re-describe ARNs whose description was not RUNNING/complete, or expire entries.',
    ],
  });
  return results;
}
