/**
 * Pure safety rules around discovery: how far the fleet may shrink in one sync, and how long to wait
 * after failures. No I/O, no clock: callers pass both in.
 */

/** True when going from `previous` to `next` Servers drops more than `maxDropPercent` of them. */
export function isSuddenDrop(previous: number, next: number, maxDropPercent: number): boolean {
  if (previous === 0 || maxDropPercent >= 100) return false;
  return (previous - next) * 100 > previous * maxDropPercent;
}

const BACKOFF_BASE_MS = 1_000;
const BACKOFF_CAP_MS = 5 * 60_000;

/**
 * How long to leave discovery alone after `failures` consecutive failed syncs: exponential from 1 s,
 * capped at 5 minutes, with "equal jitter" (half fixed, half random) so n Proxies throttled together
 * do not retry together. `random` is in [0, 1).
 */
export function backoffMs(failures: number, random: number): number {
  if (failures <= 0) return 0;
  const ceiling = Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** Math.min(failures - 1, 30));
  return Math.round(ceiling / 2 + (ceiling / 2) * random);
}
