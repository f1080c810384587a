// npm run bench [-- --quick] [-- --only=0,2]
// Runs the benchmarks of issue 7 (and issue 3's double-booking count), our approach against the seed's
// in the same run, prints one table per section and writes everything to bench/results/<stamp>.json.
import { mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describeMachine, renderTable, round, type BenchContext, type Table } from './lib.js';
import { runApplyCost } from './sections/apply-cost.js';
import { runAwsCalls } from './sections/aws-calls.js';
import { runBurstChurnSection } from './sections/burst-churn.js';
import { runConvergence } from './sections/convergence.js';
import { runDoubleBookings } from './sections/double-bookings.js';
import { runEvents } from './sections/events.js';
import { runGate } from './sections/gate.js';
import { runMemory } from './sections/memory.js';
import { runProxies } from './sections/proxies.js';
import { runRefused } from './sections/refused.js';
import { runScaling } from './sections/scaling.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
/** bench/ in the source tree (this file runs from dist/bench/). */
const BENCH_DIR = path.basename(path.dirname(HERE)) === 'dist' ? path.resolve(HERE, '../../bench') : HERE;

const SECTIONS: Array<{ id: string; name: string; run: (ctx: BenchContext) => Promise<unknown> }> = [
  { id: '0', name: 'double-bookings', run: runDoubleBookings },
  { id: '1', name: 'convergence', run: runConvergence },
  { id: '2', name: 'apply-cost', run: runApplyCost },
  { id: '3', name: 'refused-connections', run: runRefused },
  { id: '4', name: 'aws-calls', run: runAwsCalls },
  { id: '5', name: 'memory-cpu', run: runMemory },
  { id: '6', name: 'burst-churn', run: runBurstChurnSection },
  { id: '7', name: 'several-proxies', run: runProxies },
  { id: '8', name: 'task-events', run: runEvents },
  { id: '9', name: 'scaling', run: runScaling },
  { id: '10', name: 'handshake-gate', run: runGate },
];

function parseArgs(argv: string[]): { quick: boolean; only?: Set<string> } {
  let quick = false;
  let only: Set<string> | undefined;
  for (const arg of argv) {
    if (arg === '--quick') quick = true;
    else if (arg.startsWith('--only=')) only = new Set(arg.slice('--only='.length).split(','));
    else if (arg === '--help' || arg === '-h') {
      console.log('usage: node dist/bench/run.js [--quick] [--only=0,1,2,3,4,5,6,7,8,9,10]');
      process.exit(0);
    } else {
      console.error(`unknown argument ${arg}; try --help`);
      process.exit(2);
    }
  }
  return only === undefined ? { quick } : { quick, only };
}

// The AWS SDK warns, once, that it will need Node 22 from 2027: noise in a bench table, kept off stderr.
process.removeAllListeners('warning');
process.on('warning', (w) => {
  if (!`${w.name} ${w.message}`.includes('NodeVersionSupportWarning')) process.stderr.write(`${w.name}: ${w.message}\n`);
});

async function main(): Promise<number> {
  const { quick, only } = parseArgs(process.argv.slice(2));
  const started = new Date();
  const t0 = performance.now();
  const machine = await describeMachine();
  console.log(`# rtmp-proxy benchmarks (${quick ? 'quick' : 'full'} run), ${started.toISOString()}`);
  console.log('');
  console.log(
    `Machine: ${machine.cpuModel}, ${machine.cpus} CPUs, ${machine.totalMemoryMB} MB RAM, ${machine.os}; ` +
      `Node ${machine.node}; HAProxy ${machine.haproxy}; load average at start ${machine.loadAverageAtStart.join(' ')}; code ${machine.revision}`,
  );
  console.log('');

  const tables: Table[] = [];
  const sections: Record<string, { seconds: number; data?: unknown; error?: string }> = {};
  let failed = 0;
  for (const section of SECTIONS) {
    if (only && !only.has(section.id)) continue;
    const ctx: BenchContext = {
      quick,
      table: (t) => {
        const table: Table = { ...t, notes: t.notes ?? [] };
        tables.push(table);
        console.log(renderTable(table));
        console.log('');
      },
      progress: (m) => process.stderr.write(`[bench ${round((performance.now() - t0) / 1000, 0)}s] ${m}\n`),
    };
    const s0 = performance.now();
    try {
      const data = await section.run(ctx);
      sections[section.name] = { seconds: round((performance.now() - s0) / 1000, 1), data };
    } catch (e) {
      failed++;
      const message = e instanceof Error ? (e.stack ?? e.message) : String(e);
      sections[section.name] = { seconds: round((performance.now() - s0) / 1000, 1), error: message };
      console.log(`### ${section.id}. ${section.name}: FAILED\n\n    ${message.split('\n').join('\n    ')}\n`);
    }
  }

  const seconds = round((performance.now() - t0) / 1000, 1);
  const loadAverageAtEnd = os.loadavg().map((l) => round(l, 2));
  console.log(`Total ${seconds} s; load average at end ${loadAverageAtEnd.join(' ')}.`);
  const dir = path.join(BENCH_DIR, 'results');
  await mkdir(dir, { recursive: true });
  const file = path.join(dir, `bench-${quick ? 'quick' : 'full'}-${started.toISOString().replace(/[:.]/g, '-')}.json`);
  await writeFile(file, `${JSON.stringify({ run: quick ? 'quick' : 'full', started: started.toISOString(), seconds, machine: { ...machine, loadAverageAtEnd }, tables, sections }, null, 2)}\n`);
  console.log(`Results: ${path.relative(process.cwd(), file)}`);
  return failed === 0 ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
