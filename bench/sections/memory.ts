// Section 5: the daemon's memory (RSS) and CPU per sync at 5,000 Servers, in a steady fleet. The daemon
// runs in a child process (bench/memory-probe.ts) so the emulator's and the bench's own memory and CPU
// are not counted; the emulator (5,000 RUNNING tasks) runs here.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type ApplyMode } from '../../src/config.js';
import { PACKAGE_ROOT } from '../../src/paths.js';
import { startEcsEmulator } from '../../dev/emulator/ecs-emulator.js';
import { capNote } from './apply-cost.js';
import { createProxy, daemonFlagsNote, daemonNodeFlags, fleetAddress, median, ratio, spareAddress, yesNo, type BenchContext } from '../lib.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const PROBE = path.resolve(HERE, '../memory-probe.js');
const SERVERS = 5000;
const CLUSTER = 'bench-memory';
const DEAD_PORT = 19470;
const PROBE_TIMEOUT_MS = 240_000;

export interface MemoryResult {
  mode: ApplyMode;
  servers: number;
  rssAtStartMB: number;
  rssAfterStartMB: number;
  peakRssMB: number;
  firstSyncMs: number;
  syncs: Array<{ action: string; wallMs: number; cpuUserMs: number; cpuSystemMs: number; rssMB: number; heapUsedMB: number }>;
  haproxyWorkerRssMB?: number;
  cappedGlobalMaxconn?: number;
  execArgv: string[];
}

function runProbe(settings: unknown): Promise<MemoryResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...daemonNodeFlags(), PROBE], { env: { ...process.env, BENCH_PROBE: JSON.stringify(settings) }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), PROBE_TIMEOUT_MS);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      const line = out.split('\n').find((l) => l.startsWith('RESULT '));
      if (code === 0 && line) resolve(JSON.parse(line.slice('RESULT '.length)) as MemoryResult);
      else reject(new Error(`memory probe exited with ${signal ?? code}: ${err.trim().slice(0, 2000)}`));
    });
  });
}

/** RSS (MB) of a fresh Node process right after importing `modules` (nothing else runs). */
function rssAfterImport(modules: string[]): Promise<number> {
  const code = `${modules.map((m) => `await import(${JSON.stringify(m)});`).join(' ')} process.stdout.write(String(process.memoryUsage().rss));`;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--no-warnings', '--input-type=module', '-e', code], { cwd: PACKAGE_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      if (code === 0 && /^\d+$/.test(out)) resolve(Math.round((Number(out) / 2 ** 20) * 10) / 10);
      else reject(new Error(`import of ${modules.join(', ')} failed: ${err.slice(0, 500)}`));
    });
  });
}

export async function runMemory(ctx: BenchContext) {
  const modes: ApplyMode[] = ctx.quick ? ['runtime'] : ['reload', 'runtime'];
  const syncs = Number(process.env.BENCH_MEMORY_SYNCS ?? (ctx.quick ? 3 : 5));
  const emu = await startEcsEmulator({ host: '127.0.0.1', port: 0 });
  for (let i = 0; i < SERVERS; i++) emu.addTask({ cluster: CLUSTER, address: fleetAddress(i) });
  const results: MemoryResult[] = [];
  try {
    for (const [i, mode] of modes.entries()) {
      const proxy = await createProxy({
        applyMode: mode,
        bind: spareAddress(204 + i),
        rtmpPort: 19471 + i,
        healthPort: 18471 + i,
        env: { DISCOVERY: 'ecs', ECS_CLUSTER: CLUSTER, SERVER_PORT: String(DEAD_PORT) },
        servers: SERVERS,
      });
      try {
        ctx.progress(`memory/cpu ${mode}: daemon probe with ${SERVERS} servers`);
        const r = await runProbe({ env: proxy.env, endpoint: emu.url, region: emu.region, syncs });
        results.push({ ...r, mode, ...(proxy.cappedGlobalMaxconn !== undefined && { cappedGlobalMaxconn: proxy.cappedGlobalMaxconn }) });
      } finally {
        await proxy.close(); // the probe stops its HAProxy; this is the safety net if it died
      }
    }
  } finally {
    await emu.close();
  }
  const cpuOf = (r: MemoryResult) => median(r.syncs.map((s) => s.cpuUserMs + s.cpuSystemMs));
  const wallOf = (r: MemoryResult) => median(r.syncs.map((s) => s.wallMs));
  const seed = results.find((r) => r.mode === 'reload');
  ctx.table({
    section: '5',
    title: `Daemon memory and CPU per steady-state sync at ${SERVERS} Servers (daemon alone, in its own process)`,
    headers: ['approach', 'sync does', 'RSS idle MB', 'RSS peak MB', 'heap used MB', 'CPU ms/sync (median)', 'wall ms/sync (median)', 'HAProxy worker RSS MB', 'target', 'met?'],
    rows: results.map((r) => [
      `${r.mode === 'reload' ? 'seed-like (reload mode)' : 'ours (runtime)'}${r.cappedGlobalMaxconn !== undefined ? '*' : ''}`,
      [...new Set(r.syncs.map((s) => s.action))].join(','),
      String(r.rssAtStartMB),
      String(r.peakRssMB),
      String(median(r.syncs.map((s) => s.heapUsedMB))),
      `${cpuOf(r)}${r.mode === 'runtime' && seed ? ` (seed/ours ${ratio(cpuOf(seed), cpuOf(r))})` : ''}`,
      String(wallOf(r)),
      String(r.haproxyWorkerRssMB ?? '?'),
      'RSS ≤ 100 MB',
      `${yesNo(r.peakRssMB <= 100)}${r.peakRssMB > 100 ? ` (+${Math.round(r.peakRssMB - 100)} MB)` : ''}`,
    ]),
    notes: [
      'CPU = process.cpuUsage() delta (user + system) around one sync(); RSS = process.memoryUsage().rss after each sync; "idle" = before the first sync.',
      'Each steady sync: the ListTasks pages (descriptions cached, section 4), mapping, then (runtime) `show stat` + render + compare, or (reload) render + compare. Neither touches HAProxy when nothing changed.',
      'Our reload mode skips unchanged configs; the seed reloaded on every tick, so its per-tick cost is this plus a reload (section 2, reload row at 5,000).',
      ...capNote(results),
      ...(results[0] ? [daemonFlagsNote(results[0].execArgv)] : []),
    ],
  });
  ctx.progress('memory: what loading the modules costs');
  const imports: Array<[string, string[]]> = [
    ['node alone', []],
    ['@aws-sdk/client-ecs', ['@aws-sdk/client-ecs']],
    ['@aws-sdk/client-ec2', ['@aws-sdk/client-ec2']],
    ['the daemon\'s modules (dist/src/daemon.js)', ['./dist/src/daemon.js']],
  ];
  const loadCost: Array<{ what: string; rssMB: number }> = [];
  for (const [what, modules] of imports) loadCost.push({ what, rssMB: await rssAfterImport(modules) });
  ctx.table({
    section: '5b',
    title: 'RSS of a fresh Node process right after importing (MB): where the idle RSS comes from',
    headers: ['imported', 'RSS MB'],
    rows: loadCost.map((l) => [l.what, String(l.rssMB)]),
    notes: ['`@aws-sdk/client-ec2` is loaded only with SERVER_ADDRESS=public (src/discovery/ecs.ts imports it on first use).'],
  });
  return { results, loadCost };
}
