// maxconn 1 under load: a full fleet, streamers waiting in HAProxy's queue, and tasks replaced every
// second (busy ones included, some new tasks at a stopped task's address), through the real daemon and
// the HAProxy the suite runs. The stand-in Servers count their own streams: none may ever carry two,
// and no placed stream may be cut. Servers listen as soon as ECS says RUNNING here, and a stopped
// task's address is reused after 5 s: a Server that listens later, or an address reused within
// HAProxy's retries, can still be double-booked (bench section 6, README "HAProxy versions").
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DEFAULT_HAPROXY_BIN } from '../src/paths.js';
import { runBurstChurn } from './helpers/burst-churn.js';

const ADDRESSES = Array.from({ length: 40 }, (_, i) => `127.0.28.${i + 1}`);

describe('maxconn 1 under bursts and churn', () => {
  test('no Server ever carries two streams, no stream is cut, and the load really queued and churned', { timeout: 180_000 }, async () => {
    const r = await runBurstChurn({
      seed: Number(process.env.CHURN_SEED ?? 1),
      addresses: ADDRESSES,
      serverPort: 19390,
      proxy: { address: '127.0.28.200', rtmp: 19391, health: 18091 },
      initialTasks: 32,
      churnPerSecond: 3,
      streamers: 100,
      arrivalSeconds: 30,
      holdSeconds: [6, 18],
      listenDelayMs: 0,
      // ECS does not give a stopped task's IP to a new task within seconds (the ENI is released first);
      // at once, HAProxy's retries of a refused connection can land on the newcomer (bench section 6).
      reuseAfterMs: 5000,
      haproxyBin: process.env.HAPROXY_BIN ?? DEFAULT_HAPROXY_BIN,
    });
    // The load did what it says: streamers queued, busy Servers stopped, addresses reused.
    assert.ok(r.queued >= 10, `streamers waited in the queue: ${r.queued}`);
    assert.ok(r.busyTasksStopped >= 10, `busy Servers' tasks stopped: ${r.busyTasksStopped}`);
    assert.ok(r.addressesReused >= 10, `addresses reused: ${r.addressesReused}`);
    assert.ok(r.placed >= r.streamers / 2, `placed ${r.placed} of ${r.streamers}`);
    // The promise, by the Servers' own count.
    assert.equal(r.doubleBooked, 0, `${r.doubleBooked} Servers carried two streams (longest ${r.longestOverlapMs} ms) on HAProxy ${r.haproxyVersion}: ${JSON.stringify(r)}`);
    assert.equal(r.peakOnOneServer, 1);
    assert.equal(r.cut, 0, `streams cut: ${JSON.stringify(r)}`);
    assert.equal(r.haproxyRestarts, 0, 'HAProxy neither crashed nor reloaded: membership went through the Runtime API');
  });
});
