// Section 2: apply cost. HAProxy runs with N Servers (loopback addresses nothing listens on: their health
// checks fail, which is fine); then, several times, the fleet loses one Server and gains one, and we
// time the whole sync (discover, plan, apply, config file) on the runtime path and on the reload path.
import type { ApplyMode } from '../../src/config.js';
import { parseCsv, RuntimeApi } from '../../src/haproxy/runtime-api.js';
import { takenInPeerStats } from '../../src/discovery/proxies.js';
import { planMembership } from '../../src/core/plan.js';
import { readFile } from 'node:fs/promises';
import { RTMP_BACKEND } from '../../src/model.js';
import { compileTemplate, renderConfig } from '../../src/render/render.js';
import { renderSettingsFrom } from '../../src/render/template.js';
import {
  bounded,
  createProxy,
  fleetAddress,
  MemoryFleet,
  median,
  mustOk,
  ratio,
  round,
  spareAddress,
  staticServer,
  syncerFor,
  yesNo,
  type BenchContext,
} from '../lib.js';

const PROXY = spareAddress(202);
const RTMP_PORT = 19440;
const HEALTH_PORT = 18440;
/** Nothing listens here. */
const DEAD_PORT = 19441;

export interface ApplyCostResult {
  mode: ApplyMode;
  servers: number;
  startMs: number;
  /** Wall time of each measured sync (one added + one removed Server), as we timed it around sync(). */
  samplesMs: number[];
  /** What each sync did. */
  actions: string[];
  medianMs: number;
  maxMs: number;
  /** HAProxy processes right after each sync, and 1 s after the last one. */
  processesAfter: number[];
  processesSettled: number;
  /** Runtime path only: the parts of a sync, timed alone (median of 5, ms). */
  /** Set when HAProxy's global maxconn was capped to start on this machine (see createProxy). */
  cappedGlobalMaxconn?: number;
  parts?: { showStat: number; showStatSocketOnly: number; showProc: number; plan: number; render: number; validate: number; oneCommand: number; peerParseRows: number; peerParse: number };
}

/** Times the pieces a runtime sync is made of, against the running HAProxy, each alone. */
/** How a peer's stats page was read before: every row an object of every column. */
function takenAsBefore(csv: string): Set<string> {
  const taken = new Set<string>();
  for (const row of parseCsv(csv)) {
    if (row.pxname !== RTMP_BACKEND || row.svname === 'BACKEND' || row.svname === 'FRONTEND' || !row.svname) continue;
    if (!(row.status ?? '').includes('MAINT') || Number(row.scur) > 0) taken.add(row.svname);
  }
  return taken;
}

async function timeParts(proxy: Awaited<ReturnType<typeof createProxy>>, n: number): Promise<NonNullable<ApplyCostResult['parts']>> {
  const api = new RuntimeApi(proxy.config.haproxySocket);
  const template = compileTemplate(await readFile(proxy.config.haproxyTemplate, 'utf8'), proxy.config.haproxyTemplate);
  const settings = renderSettingsFrom(proxy.config);
  const time = async (fn: () => Promise<unknown>) => {
    const samples: number[] = [];
    for (let i = 0; i < 5; i++) {
      const t = performance.now();
      await fn();
      samples.push(performance.now() - t);
    }
    return round(median(samples), 1);
  };
  const running = await api.servers(RTMP_BACKEND);
  if (running.length < n) throw new Error(`expected ${n} servers in HAProxy, found ${running.length}`);
  const rendered = running.map((r) => ({ name: r.name, address: r.address, port: r.port, draining: r.maintenance }));
  return {
    showStat: await time(() => api.servers(RTMP_BACKEND)),
    // The same command without parsing the CSV: how much of `show stat` is HAProxy and the socket.
    showStatSocketOnly: await time(() => api.command(`show stat ${RTMP_BACKEND} 4 -1`)),
    showProc: await time(() => proxy.haproxy.masterStatus()),
    // The pure membership plan for a steady fleet (desired = what runs).
    plan: await time(async () =>
      planMembership({
        desired: running.map((r) => ({ name: r.name, address: r.address, port: r.port })),
        running,
        sessionsInOldWorkers: new Map(),
        busyElsewhere: new Set(),
        drainingSince: new Map(),
        now: Date.now(),
      }),
    ),
    render: await time(async () => renderConfig(template, proxy.config.haproxyTemplate, settings, rendered)),
    validate: await time(() => proxy.haproxy.validate(proxy.config.haproxyConfig)),
    // A no-op change (weight 10 is what every server has): the round trip of one Runtime API command.
    oneCommand: await time(() => api.change(`set server ${RTMP_BACKEND}/${running[0]!.name} weight 10`)),
    // A peer's stats page is this CSV; every sync reads every peer's (PROXY_SERVICE).
    ...(await (async () => {
      const csv = await api.command(`show stat ${RTMP_BACKEND} 4 -1`);
      const [before, now] = [takenAsBefore(csv), takenInPeerStats(csv)];
      if (before.size !== now.size || [...before].some((name) => !now.has(name))) throw new Error('the two ways of reading a peer disagree');
      return {
        peerParseRows: await time(async () => takenAsBefore(csv)),
        peerParse: await time(async () => takenInPeerStats(csv)),
      };
    })()),
  };
}

async function measure(mode: ApplyMode, n: number, changes: number, ctx: BenchContext): Promise<ApplyCostResult> {
  const proxy = await createProxy({ applyMode: mode, bind: PROXY, rtmpPort: RTMP_PORT, healthPort: HEALTH_PORT, servers: n });
  try {
    const fleet = new MemoryFleet();
    const syncer = syncerFor(proxy, fleet);
    fleet.servers = Array.from({ length: n }, (_, i) => staticServer(fleetAddress(i), DEAD_PORT));
    const s0 = performance.now();
    mustOk(await bounded(syncer.sync(), 120_000, `start with ${n} servers`), `start with ${n} servers`);
    const startMs = performance.now() - s0;
    const samples: number[] = [];
    const actions: string[] = [];
    const processesAfter: number[] = [];
    for (let c = 0; c < changes; c++) {
      // One leaves (the oldest), one joins (from the spare block): the fleet stays at N.
      const joining = staticServer(spareAddress(100 + c), DEAD_PORT);
      fleet.servers = [...fleet.servers.slice(1), joining];
      const t = performance.now();
      const o = mustOk(await bounded(syncer.sync(), 120_000, `change at ${n}`), `change at ${n}`);
      samples.push(round(performance.now() - t, 1));
      actions.push(o.action);
      processesAfter.push(await proxy.processes());
      ctx.progress(`apply cost ${mode} N=${n}: change ${c + 1}/${changes}: ${o.action} ${Math.round(performance.now() - t)} ms`);
    }
    await new Promise((r) => setTimeout(r, 1000));
    const processesSettled = await proxy.processes();
    const parts = mode === 'runtime' ? await timeParts(proxy, n) : undefined;
    return {
      mode,
      servers: n,
      startMs: round(startMs, 0),
      samplesMs: samples,
      actions,
      medianMs: median(samples),
      maxMs: Math.max(...samples),
      processesAfter,
      processesSettled,
      ...(parts && { parts }),
      ...(proxy.cappedGlobalMaxconn !== undefined && { cappedGlobalMaxconn: proxy.cappedGlobalMaxconn }),
    };
  } finally {
    await proxy.close();
  }
}

export function capNote(results: ReadonlyArray<{ cappedGlobalMaxconn?: number }>): string[] {
  const cap = results.find((r) => r.cappedGlobalMaxconn !== undefined)?.cappedGlobalMaxconn;
  return cap === undefined
    ? []
    : [
        `* HAProxy would not start with the shipped template here: its global maxconn for this fleet needs more open files than this machine's hard limit ("Cannot raise FD limit"). ` +
          `These rows use a copy of the template with only the global maxconn capped to ${cap}.`,
      ];
}

export async function runApplyCost(ctx: BenchContext) {
  const sizes = ctx.quick ? [10, 100, 1000] : [10, 100, 1000, 5000];
  const changes = ctx.quick ? 3 : 5;
  const results: ApplyCostResult[] = [];
  for (const n of sizes) {
    for (const mode of ['reload', 'runtime'] as const) {
      ctx.progress(`apply cost ${mode} N=${n}: starting HAProxy`);
      results.push(await measure(mode, n, changes, ctx));
    }
  }
  const rows: string[][] = [];
  for (const n of sizes) {
    const seed = results.find((r) => r.mode === 'reload' && r.servers === n)!;
    const ours = results.find((r) => r.mode === 'runtime' && r.servers === n)!;
    for (const r of [seed, ours]) {
      const targeted = r.mode === 'runtime' && n === 1000;
      rows.push([
        `${n}${r.cappedGlobalMaxconn !== undefined ? '*' : ''}`,
        r.mode === 'reload' ? 'seed (reload)' : 'ours (runtime)',
        [...new Set(r.actions)].join(','),
        String(r.medianMs),
        String(r.maxMs),
        r.mode === 'runtime' ? ratio(seed.medianMs, ours.medianMs) : '',
        `${Math.max(...r.processesAfter)} → ${r.processesSettled}`,
        String(r.startMs),
        targeted ? '≤ 50 ms' : '—',
        targeted ? `${yesNo(r.medianMs <= 50)}${r.medianMs > 50 ? ` (+${round(r.medianMs - 50, 1)} ms)` : ''}` : '—',
      ]);
    }
  }
  ctx.table({
    section: '2',
    title: `Apply cost: one Server added + one removed, at N Servers (${changes} changes each; wall ms of the whole sync)`,
    headers: ['N', 'approach', 'applied as', 'median', 'max', 'seed/ours', 'HAProxy procs after → 1 s later', 'first start', 'target', 'met?'],
    rows,
    notes: [
      'The sync includes discovery (in-memory here), `show stat`, planning, the Runtime API commands or the reload, rendering and `haproxy -c` validation of the new file.',
      'Servers are loopback addresses nothing listens on (health checks fail); no connections are live, so old workers exit quickly after a reload.',
      ...capNote(results),
    ],
  });
  ctx.table({
    section: '2b',
    title: 'Where the runtime path\'s time goes: its parts timed alone against the same HAProxy (median of 5, ms)',
    headers: ['N', 'sync (median)', '`show stat` + parse (×2 per sync)', 'of which socket only', '`show proc` (×2)', 'plan (×1)', 'render (×1)', '`haproxy -c` validate (×1)', 'one CLI round trip (×5: add, enable ×2, disable, del)', "a peer's stats page parsed: every row an object (before) / 5 columns (now), × peers per sync"],
    rows: results
      .filter((r) => r.parts)
      .map((r) => {
        const p = r.parts!;
        return [String(r.servers), String(r.medianMs), String(p.showStat), String(p.showStatSocketOnly), String(p.showProc), String(p.plan), String(p.render), String(p.validate), String(p.oneCommand), `${p.peerParseRows} / ${p.peerParse} (${ratio(p.peerParseRows, p.peerParse)})`];
      }),
    notes: [
      'A runtime sync = pidfile + config read, show stat, show proc, plan, 5 CLI commands, show stat + show proc (read back), render, write + `haproxy -c` + rename.',
      'What runs is not rendered again: the sync before rendered it (src/render/template.ts remembers the last two fleets), so each fleet is rendered once.',
    ],
  });
  return results;
}
