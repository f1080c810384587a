// Per-source refusals as log lines (src/core/source-limits.ts): at most one per source per minute.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { NO_SOURCE_REFUSALS, sourceAddress, sourceRefusalsToLog } from '../src/core/source-limits.js';

const MIN = 60_000;

describe('sourceRefusalsToLog', () => {
  test('the first refusals of a source are logged at once; more within the minute wait; then they are logged as one line', () => {
    let state = NO_SOURCE_REFUSALS;
    const step = (counts: Record<string, number>, now: number) => {
      const r = sourceRefusalsToLog(state, new Map(Object.entries(counts)), now);
      state = r.state;
      return r.log;
    };
    assert.deepEqual(step({ '::ffff:203.0.113.7': 3 }, 0), [{ source: '203.0.113.7', refused: 3 }]);
    assert.deepEqual(step({ '::ffff:203.0.113.7': 40 }, 10_000), [], 'within the minute: quiet');
    assert.deepEqual(step({ '::ffff:203.0.113.7': 90 }, 30_000), []);
    assert.deepEqual(step({ '::ffff:203.0.113.7': 95 }, MIN), [{ source: '203.0.113.7', refused: 92 }], 'a minute on: what happened since, in one line');
    assert.deepEqual(step({ '::ffff:203.0.113.7': 95 }, 3 * MIN), [], 'nothing new, nothing said');
  });

  test('sources are independent; a source gone from the table is forgotten; a count that went down starts afresh', () => {
    let state = NO_SOURCE_REFUSALS;
    const step = (counts: Record<string, number>, now: number) => {
      const r = sourceRefusalsToLog(state, new Map(Object.entries(counts)), now);
      state = r.state;
      return r.log;
    };
    assert.deepEqual(step({ a: 1, b: 2 }, 0), [
      { source: 'a', refused: 1 },
      { source: 'b', refused: 2 },
    ]);
    assert.deepEqual(step({ b: 2 }, 5 * MIN), []);
    assert.deepEqual(step({ a: 4 }, 6 * MIN), [{ source: 'a', refused: 4 }], 'a came back: all of its count is new');
    assert.deepEqual(step({ a: 1 }, 8 * MIN), [{ source: 'a', refused: 1 }], 'a new worker counts from 0');
  });

  test('IPv4 addresses read as such, IPv6 as they are', () => {
    assert.equal(sourceAddress('::ffff:198.51.100.1'), '198.51.100.1');
    assert.equal(sourceAddress('2001:db8::1'), '2001:db8::1');
  });
});
