// Section 4: AWS calls per steady-state sync. The real ECS discovery (AWS SDK over HTTP) against the
// emulator holding N RUNNING tasks; the emulator's own call log counts what each discovery sends.
// Ours caches task descriptions (a known Server is not described again while it stays listed; a full
// refresh every 30 discoveries); the seed's way, describing every task on every sync, is the same
// discovery with fullRefreshEvery: 1. Both measured, in the same run.
import { ECSClient } from '@aws-sdk/client-ecs';
import { createEcsDiscovery } from '../../src/discovery/ecs.js';
import { startEcsEmulator } from '../../dev/emulator/ecs-emulator.js';
import { bounded, fleetAddress, logger, median, ratio, yesNo, round, type BenchContext } from '../lib.js';

const CREDENTIALS = { accessKeyId: 'AKIDBENCH', secretAccessKey: 'bench-secret' };
const PAGE = 100;

export interface AwsCallsResult {
  tasks: number;
  approach: 'seed (describe all)' | 'ours (cached)';
  syncs: number;
  /** Per steady-state sync, measured (the median over the syncs). */
  listTasks: number;
  describeTasks: number;
  other: number;
  discoverMs: number[];
  servers: number;
}

/** Steady-state calls of one discovery: after a first discovery that sees every task. */
async function measure(
  emu: Awaited<ReturnType<typeof startEcsEmulator>>,
  ecs: ECSClient,
  cluster: string,
  n: number,
  syncs: number,
  fullRefreshEvery: number,
): Promise<Omit<AwsCallsResult, 'approach' | 'tasks'>> {
  const discovery = createEcsDiscovery({ cluster, serverPort: 19460, addressMode: 'private', ecs, logger, callTimeoutMs: 30_000, fullRefreshEvery });
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
  return { syncs, listTasks: med('ListTasks'), describeTasks: med('DescribeTasks'), other, discoverMs: times, servers: first.servers.length };
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
      // The steady syncs stay below the cache's full refresh (every 30th discovery).
      results.push({ tasks: n, approach: 'seed (describe all)', ...(await measure(emu, ecs, cluster, n, syncs, 1)) });
      results.push({ tasks: n, approach: 'ours (cached)', ...(await measure(emu, ecs, cluster, n, syncs, 30)) });
      const [seed, ours] = results.slice(-2);
      ctx.progress(`aws calls N=${n}: seed ${seed!.listTasks}+${seed!.describeTasks}, ours ${ours!.listTasks}+${ours!.describeTasks} per sync`);
    }
  } finally {
    ecs.destroy();
    await emu.close();
  }
  ctx.table({
    section: '4',
    title: 'AWS calls per steady-state sync (no fleet change)',
    headers: ['tasks', 'approach', 'ListTasks', 'DescribeTasks', 'calls', 'seed/ours', 'discovery ms (median)', 'target', 'met?'],
    rows: results.map((r, i) => {
      const calls = r.listTasks + r.describeTasks + r.other;
      const seed = results[i - (i % 2)]!;
      const listTarget = Math.ceil(r.tasks / PAGE);
      const isOurs = r.approach === 'ours (cached)';
      return [
        String(r.tasks),
        r.approach,
        String(r.listTasks),
        String(r.describeTasks),
        String(calls),
        isOurs ? ratio(seed.listTasks + seed.describeTasks + seed.other, calls) : '',
        String(median(r.discoverMs)),
        isOurs ? `${listTarget} ListTasks, 0 DescribeTasks` : '—',
        isOurs ? `${yesNo(r.listTasks <= listTarget && r.describeTasks === 0)}${r.describeTasks > 0 ? ` (+${r.describeTasks} DescribeTasks)` : ''}` : '—',
      ];
    }),
    notes: [
      "Measured: the emulator's call log around each discover() of the real ECS discovery (src/discovery/ecs.ts).",
      'seed (describe all) = the same discovery with fullRefreshEvery: 1, i.e. every listed task described on every sync.',
      'ours: a task that became a Server is not described again while listed; new and pending tasks are; every 30th discovery describes all afresh (not in these steady syncs).',
    ],
  });
  return results;
}
