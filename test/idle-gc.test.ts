// The young-generation collection the daemon asks for once quiet after a burst of work: one per burst,
// after its last call, a minor one; nothing at all without node's --expose-gc.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, test } from 'node:test';
import { promisify } from 'node:util';
import { PACKAGE_ROOT } from '../src/paths.js';

const IDLE_GC = pathToFileURL(path.join(PACKAGE_ROOT, 'dist', 'src', 'idle-gc.js')).href;

/** A burst of five calls 30 ms apart, then 400 ms of quiet: the forced collections V8 reports, in a node of its own. */
const BURST = `
import { constants, PerformanceObserver } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { youngGcWhenQuiet } from ${JSON.stringify(IDLE_GC)};
const forced = [];
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) if (e.detail.flags & constants.NODE_PERFORMANCE_GC_FLAGS_FORCED) forced.push({ minor: e.detail.kind === constants.NODE_PERFORMANCE_GC_MINOR, at: e.startTime });
}).observe({ entryTypes: ['gc'] });
const quiet = youngGcWhenQuiet(100);
for (let i = 0; i < 5; i++) { quiet(); await sleep(30); }
const lastCallAt = performance.now() - 30;
await sleep(400);
console.log(JSON.stringify({ forced, lastCallAt }));
`;

async function burst(nodeFlags: string[]): Promise<{ forced: Array<{ minor: boolean; at: number }>; lastCallAt: number }> {
  const { stdout } = await promisify(execFile)(process.execPath, [...nodeFlags, '--input-type=module', '-e', BURST], { timeout: 10_000 });
  return JSON.parse(stdout) as { forced: Array<{ minor: boolean; at: number }>; lastCallAt: number };
}

describe('youngGcWhenQuiet', () => {
  test('with --expose-gc: one minor collection per burst, once the calls stopped', async () => {
    const { forced, lastCallAt } = await burst(['--expose-gc']);
    assert.equal(forced.length, 1, JSON.stringify(forced));
    assert.equal(forced[0]!.minor, true, 'a young-generation collection, not a full one');
    assert.ok(forced[0]!.at > lastCallAt, `after the last call (${lastCallAt} ms), not during the burst: ${forced[0]!.at} ms`);
  });

  test('without --expose-gc: nothing is collected on purpose, and nothing fails', async () => {
    assert.deepEqual((await burst([])).forced, []);
  });
});
