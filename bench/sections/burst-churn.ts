// Section 6: maxconn 1 under bursts and churn (issue 12), side by side: Debian 12's HAProxy 2.6.12 and
// the HAProxy the project tests and ships (test/build-haproxy.sh), the same daemon and the same seeded
// loads. A full fleet of 40 stand-in Servers (32 tasks), 3 tasks replaced every second (busy ones too,
// new ones half the time at a stopped task's address), streamers arriving at random and waiting in
// HAProxy's queue; new Servers listen when ECS says RUNNING, or up to 2 s later (as a container that
// starts before its server listens). Double-bookings by the Servers' own counts.
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { DEFAULT_HAPROXY_BIN, PACKAGE_ROOT } from '../../src/paths.js';
import { runBurstChurn, type ChurnResult } from '../../test/helpers/burst-churn.js';
import { fleetAddress, round, spareAddress, type BenchContext } from '../lib.js';

const DEBIAN_HAPROXY = '/usr/sbin/haproxy';

export interface BurstChurnRow extends ChurnResult {
  haproxy: string;
  seed: number;
  /** New Servers listened up to this long after RUNNING. */
  listenDelayMs: number;
  /** SERVER_REQUIRE_HEALTHY=true, the Server tasks with a container health check. */
  requireHealthy: boolean;
}

export async function runBurstChurnSection(ctx: BenchContext): Promise<{ rows: BurstChurnRow[]; build: { coldSeconds?: number; cachedSeconds: number } }> {
  const seeds = ctx.quick ? [1] : [1, 2, 3];
  const load = ctx.quick
    ? { streamers: 60, arrivalSeconds: 20, holdSeconds: [6, 14] as const }
    : { streamers: 120, arrivalSeconds: 42, holdSeconds: [8, 25] as const };
  const rows: BurstChurnRow[] = [];
  // New Servers listening at RUNNING; up to 2 s later; and that again with a container health check
  // and SERVER_REQUIRE_HEALTHY=true (a task joins once ECS says HEALTHY).
  const variants = [
    { listenDelayMs: 0, requireHealthy: false },
    { listenDelayMs: 2000, requireHealthy: false },
    { listenDelayMs: 2000, requireHealthy: true },
  ];
  for (const { listenDelayMs, requireHealthy } of variants) {
  for (const [label, bin] of [
    ['Debian 12 (affected)', DEBIAN_HAPROXY],
    ['ours (tested, shipped branch)', DEFAULT_HAPROXY_BIN],
  ] as const) {
    for (const seed of seeds) {
      ctx.progress(`burst-churn: ${label}, seed ${seed}, listening ${listenDelayMs} ms after RUNNING${requireHealthy ? ', SERVER_REQUIRE_HEALTHY' : ''}`);
      const r = await runBurstChurn({
        seed,
        addresses: Array.from({ length: 40 }, (_, i) => fleetAddress(i)),
        serverPort: 19480,
        proxy: { address: spareAddress(206), rtmp: 19481, health: 18481 },
        initialTasks: 32,
        churnPerSecond: 3,
        ...load,
        listenDelayMs,
        healthyWhenListening: requireHealthy,
        env: { SERVER_REQUIRE_HEALTHY: String(requireHealthy) },
        haproxyBin: bin,
      });
      rows.push({ ...r, haproxy: label, seed, listenDelayMs, requireHealthy });
    }
  }
  }

  // The HAProxy build: cold from the cache's record, cached measured now (what every later run pays).
  const t0 = performance.now();
  await promisify(execFile)('sh', [path.join(PACKAGE_ROOT, 'test', 'build-haproxy.sh')], { cwd: PACKAGE_ROOT, timeout: 600_000 });
  const cachedSeconds = round((performance.now() - t0) / 1000, 2);
  const target = await promisify(execFile)('readlink', ['-f', path.join(PACKAGE_ROOT, '.deps', 'bin', 'haproxy')]).then(({ stdout }) => stdout.trim());
  const cold = Number(await readFile(path.join(path.dirname(target), 'build-seconds'), 'utf8').catch(() => 'NaN'));

  const total = (label: string, f: (r: BurstChurnRow) => number) => rows.filter((r) => r.haproxy === label && r.listenDelayMs === 0).reduce((n, r) => n + f(r), 0);
  ctx.table({
    section: '6',
    title: `maxconn 1 under bursts and churn: ${load.streamers} streamers over ${load.arrivalSeconds} s holding ${load.holdSeconds.join('–')} s, 40 Servers, 3 tasks replaced a second`,
    headers: ['new Servers listen', 'HAProxy', 'version', 'seed', 'placed', 'refused', 'queued first', 'cut', 'busy tasks stopped', 'addresses reused', 'double-booked Servers', 'longest overlap', 'most on one Server', 'HAProxy restarts'],
    rows: rows.map((r) => [
      `${r.listenDelayMs === 0 ? 'at RUNNING' : `≤ ${r.listenDelayMs / 1000} s later`}${r.requireHealthy ? ', SERVER_REQUIRE_HEALTHY' : ''}`,
      r.haproxy,
      r.haproxyVersion,
      String(r.seed),
      `${r.placed}/${r.streamers}`,
      String(r.refused),
      String(r.queued),
      String(r.cut),
      String(r.busyTasksStopped),
      String(r.addressesReused),
      String(r.doubleBooked),
      `${round(r.longestOverlapMs / 1000, 1)} s`,
      String(r.peakOnOneServer),
      String(r.haproxyRestarts),
    ]),
    notes: [
      `Servers listening at RUNNING, double-booked Servers over all seeds, Debian 12 vs ours: ${total('Debian 12 (affected)', (r) => r.doubleBooked)} vs ${total('ours (tested, shipped branch)', (r) => r.doubleBooked)}; streams cut: ${total('Debian 12 (affected)', (r) => r.cut)} vs ${total('ours (tested, shipped branch)', (r) => r.cut)}.`,
      'Counted by each stand-in Server: connections that sent data, open at once (health checks send none). "refused": waited longer than timeout queue (10 s) with the fleet full.',
      'A Server that listens after ECS says RUNNING is "up" in HAProxy before any check reached it: a streamer sent there is refused and HAProxy retries the same address for seconds, uncounted in its sessions, and lands beside the next stream once it listens. No HAProxy version fixes that; SERVER_REQUIRE_HEALTHY=true with a container health check on the Server task does: a task joins once ECS reports it HEALTHY.',
      `HAProxy build (test/build-haproxy.sh): cold ${Number.isFinite(cold) ? `${cold} s` : 'not recorded'} (once per machine), cached ${cachedSeconds} s.`,
    ],
  });
  return { rows, build: { ...(Number.isFinite(cold) && { coldSeconds: cold }), cachedSeconds } };
}
