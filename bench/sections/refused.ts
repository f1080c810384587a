// Section 3: refused connections. A connect loop runs through HAProxy (each connection must be greeted
// by a Server) while the fleet changes K times (a fifth Server toggled in and out): every change is a
// reload on the reload path and Runtime API commands on ours. Any connection not greeted is a failure.
import type { ApplyMode } from '../../src/config.js';
import { connectLoop } from '../../test/helpers/tcp-backends.js';
import {
  bounded,
  createProxy,
  MemoryFleet,
  mustOk,
  ratio,
  spareAddress,
  staticServer,
  startCountingBackend,
  syncerFor,
  yesNo,
  type BenchContext,
  type CountingBackend,
} from '../lib.js';

const PROXY = spareAddress(203);
const RTMP_PORT = 19450;
const HEALTH_PORT = 18450;
const BACKEND_PORT = 19451;
const BACKENDS = [40, 41, 42, 43, 44].map(spareAddress);

export interface RefusedResult {
  mode: ApplyMode;
  applies: number;
  actions: Record<string, number>;
  attempts: number;
  failures: number;
  errors: string[];
  seconds: number;
  processesAfter: number;
}

async function measure(mode: ApplyMode, applies: number, ctx: BenchContext): Promise<RefusedResult> {
  const backends: CountingBackend[] = [];
  const proxy = await createProxy({ applyMode: mode, bind: PROXY, rtmpPort: RTMP_PORT, healthPort: HEALTH_PORT });
  try {
    for (const a of BACKENDS) backends.push(await startCountingBackend(a, BACKEND_PORT));
    const fleet = new MemoryFleet();
    const syncer = syncerFor(proxy, fleet);
    const base = BACKENDS.slice(0, 4).map((a) => staticServer(a, BACKEND_PORT));
    const extra = staticServer(BACKENDS[4]!, BACKEND_PORT);
    fleet.servers = base;
    mustOk(await bounded(syncer.sync(), 30_000, 'first sync'), 'first sync');

    const actions: Record<string, number> = {};
    const t0 = performance.now();
    const work = (async () => {
      // Let the loop get going before the first change.
      await new Promise((r) => setTimeout(r, 200));
      for (let i = 0; i < applies; i++) {
        fleet.servers = i % 2 === 0 ? [...base, extra] : base;
        const o = mustOk(await bounded(syncer.sync(), 30_000, `apply ${i + 1}`), `apply ${i + 1}`);
        actions[o.action] = (actions[o.action] ?? 0) + 1;
        if ((i + 1) % 20 === 0) ctx.progress(`refused ${mode}: ${i + 1}/${applies} applies`);
      }
      await new Promise((r) => setTimeout(r, 200));
    })();
    const loop = await connectLoop(PROXY, RTMP_PORT, work, 1_000_000);
    await work;
    return {
      mode,
      applies,
      actions,
      attempts: loop.attempts,
      failures: loop.failures,
      errors: loop.errors,
      seconds: Math.round((performance.now() - t0) / 100) / 10,
      processesAfter: await proxy.processes(),
    };
  } finally {
    await proxy.close();
    await Promise.all(backends.map((b) => b.close()));
  }
}

export async function runRefused(ctx: BenchContext) {
  const applies = ctx.quick ? 20 : 100;
  const results: RefusedResult[] = [];
  for (const mode of ['reload', 'runtime'] as const) results.push(await measure(mode, applies, ctx));
  const [seed, ours] = results as [RefusedResult, RefusedResult];
  ctx.table({
    section: '3',
    title: `Refused connections during ${applies} applies with a connect loop running`,
    headers: ['approach', 'applied as', 'connections', 'failed', 'seconds', 'failed seed/ours', 'target', 'met?'],
    rows: results.map((r) => [
      r.mode === 'reload' ? 'seed (reload)' : 'ours (runtime)',
      Object.entries(r.actions)
        .map(([a, n]) => `${a}×${n}`)
        .join(' '),
      String(r.attempts),
      String(r.failures),
      String(r.seconds),
      r.mode === 'runtime' ? ratio(seed.failures, ours.failures) : '',
      '0 failed',
      `${yesNo(r.failures === 0)}${r.failures > 0 ? ` (${r.failures}: ${[...new Set(r.errors)].slice(0, 2).join('; ')})` : ''}`,
    ]),
    notes: [
      'One connection at a time, back to back; a connection counts as served only when a Server greets it through HAProxy.',
      'Four Servers always in the fleet, a fifth toggled in and out on each apply.',
    ],
  });
  return results;
}
