/**
 * The fleet's capacity as this Proxy publishes it to CloudWatch (CAPACITY_METRICS), pure. Each Proxy
 * publishes its own share — the Servers it routes to, not those it holds for a peer that owns them —
 * with the same period-aligned timestamp, so CloudWatch's Sum over the Proxies is the fleet.
 */
import { isFree, type BackendServer, type HoldReason } from '../model.js';

/** What HAProxy's RTMP backend row says: streamers waiting for a Server, and connections it could not place (queue timeouts, failed connects) since the worker started. */
export interface BackendCounters {
  queued: number;
  failedConnections: number;
}

export interface CapacityFigures {
  ServersFree: number;
  ServersBusy: number;
  /** Held out of rotation, draining with no stream left, or failing their health check. */
  ServersHeld: number;
  ServersTotal: number;
  StreamersQueued: number;
  /** Turned away since the last publication. */
  StreamersRefused: number;
}

/**
 * `previousFailed`: the counter at the last publication (undefined: the first, which counts nothing).
 * A counter lower than before means a new worker (a reload starts it at 0): all of it is new.
 */
export function capacityFigures(
  backend: readonly BackendServer[],
  held: ReadonlyArray<{ name: string; reason: HoldReason }>,
  counters: BackendCounters,
  previousFailed: number | undefined,
): CapacityFigures {
  const peers = new Set(held.filter((h) => h.reason === 'owned-by-peer').map((h) => h.name));
  const mine = backend.filter((s) => !peers.has(s.name));
  const free = mine.filter(isFree).length;
  const busy = mine.filter((s) => s.streams > 0).length;
  const refused =
    previousFailed === undefined ? 0 : counters.failedConnections >= previousFailed ? counters.failedConnections - previousFailed : counters.failedConnections;
  return {
    ServersFree: free,
    ServersBusy: busy,
    ServersHeld: mine.length - free - busy,
    ServersTotal: mine.length,
    StreamersQueued: counters.queued,
    StreamersRefused: refused,
  };
}

/** The start of the period `now` falls in: every Proxy stamps its figures alike, so they add up in one bucket. */
export function periodStart(now: number, periodSeconds: number): number {
  const ms = periodSeconds * 1000;
  return Math.floor(now / ms) * ms;
}
