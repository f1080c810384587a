import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { backoffMs, isSuddenDrop } from '../src/core/guards.js';

describe('isSuddenDrop', () => {
  test('more than the limit is sudden; the limit itself is not', () => {
    assert.equal(isSuddenDrop(10, 4, 50), true);
    assert.equal(isSuddenDrop(10, 5, 50), false);
    assert.equal(isSuddenDrop(10, 0, 50), true, 'to zero');
    assert.equal(isSuddenDrop(1, 0, 50), true, 'a fleet of one to zero');
    assert.equal(isSuddenDrop(0, 0, 50), false, 'nothing to drop');
    assert.equal(isSuddenDrop(10, 12, 50), false, 'growth');
    assert.equal(isSuddenDrop(10, 0, 100), false, '100 turns it off');
    assert.equal(isSuddenDrop(10, 9, 0), true, '0: any drop waits for confirmation');
  });
});

describe('backoffMs', () => {
  test('grows exponentially with jitter between half and all of the ceiling, capped at 5 minutes', () => {
    assert.equal(backoffMs(0, 0.5), 0);
    assert.equal(backoffMs(1, 0), 500);
    assert.equal(backoffMs(1, 0.999999), 1000);
    assert.equal(backoffMs(4, 0), 4000);
    assert.equal(backoffMs(20, 0.999999), 300_000);
    assert.equal(backoffMs(10_000, 0), 150_000);
    for (let n = 1; n < 40; n++) assert.ok(backoffMs(n + 1, 0) >= backoffMs(n, 0), `monotonic at ${n}`);
  });
});
