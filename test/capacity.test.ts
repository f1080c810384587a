// The capacity figures a Proxy publishes to CloudWatch (src/core/capacity.ts): its own share of the
// fleet, so the Sum over the Proxies is the fleet, and the streamers HAProxy turned away per period.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { capacityFigures, periodStart } from '../src/core/capacity.js';
import type { BackendServer } from '../src/model.js';

const s = (name: string, o: Partial<BackendServer> = {}): BackendServer => ({ name, address: '10.0.0.1', port: 1935, streams: 0, maintenance: false, status: 'UP', ...o });
const counters = (queued: number, failedConnections: number) => ({ queued, failedConnections });

describe('capacityFigures', () => {
  test('free, busy, held and total: a held, a draining-idle and a DOWN Server count as held', () => {
    const backend = [s('a'), s('b', { streams: 1 }), s('c', { maintenance: true }), s('d', { status: 'DOWN' }), s('e', { streams: 1, maintenance: true }), s('f', { status: 'no check' })];
    assert.deepEqual(capacityFigures(backend, [{ name: 'c', reason: 'busy-elsewhere' }], counters(2, 5), undefined), {
      ServersFree: 2,
      ServersBusy: 2,
      ServersHeld: 2,
      ServersTotal: 6,
      StreamersQueued: 2,
      StreamersRefused: 0,
    });
  });

  test("a Server held for the peer that owns it is the peer's share, not this Proxy's", () => {
    const backend = [s('a'), s('b', { maintenance: true }), s('c', { maintenance: true })];
    const figures = capacityFigures(backend, [{ name: 'b', reason: 'owned-by-peer' }, { name: 'c', reason: 'handoff' }], counters(0, 0), 0);
    assert.deepEqual([figures.ServersFree, figures.ServersHeld, figures.ServersTotal], [1, 1, 2]);
  });

  test('two Proxies sharing one fleet: their sums are the fleet', () => {
    const fleet = ['a', 'b', 'c', 'd'];
    const ownerA = new Set(['a', 'b']);
    const view = (mine: Set<string>) => ({
      backend: fleet.map((n) => s(n, mine.has(n) ? (n === 'a' ? { streams: 1 } : {}) : { maintenance: true })),
      held: fleet.filter((n) => !mine.has(n)).map((name) => ({ name, reason: 'owned-by-peer' as const })),
    });
    const one = view(ownerA);
    const two = view(new Set(fleet.filter((n) => !ownerA.has(n))));
    const a = capacityFigures(one.backend, one.held, counters(0, 0), 0);
    const b = capacityFigures(two.backend, two.held, counters(0, 0), 0);
    assert.equal(a.ServersTotal + b.ServersTotal, fleet.length);
    assert.equal(a.ServersBusy + b.ServersBusy, 1);
    assert.equal(a.ServersFree + b.ServersFree, 3);
  });

  test('refused: the failed connections since the last publication; a new worker (counter reset) counts from 0', () => {
    const cases: Array<[number | undefined, number, number]> = [
      [undefined, 7, 0],
      [7, 7, 0],
      [7, 10, 3],
      [10, 2, 2],
    ];
    for (const [previous, now, refused] of cases) assert.equal(capacityFigures([], [], counters(0, now), previous).StreamersRefused, refused, `${previous} → ${now}`);
  });
});

describe('periodStart', () => {
  test('every Proxy stamps the same period start', () => {
    const t = Date.parse('2026-11-27T10:00:00Z');
    assert.equal(periodStart(t + 59_999, 60), t);
    assert.equal(periodStart(t + 60_000, 60), t + 60_000);
    assert.equal(periodStart(t + 12_345, 10), t + 10_000);
  });
});
