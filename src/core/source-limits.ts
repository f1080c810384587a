/**
 * Refusals by the per-source limits (SOURCE_MAX_STREAMS, SOURCE_MAX_CONNECT_RATE), as log lines: one
 * per source per minute at most, however many connections it opens, saying how many were refused
 * since its last line. Pure: HAProxy's stick table (gpc0 per source) comes in, what to log goes out.
 */

export interface SourceRefusalState {
  /** Per source (as the stick table keys it): its count when last logged, and when. */
  logged: ReadonlyMap<string, { count: number; at: number }>;
}

export const NO_SOURCE_REFUSALS: SourceRefusalState = { logged: new Map() };

/** `::ffff:203.0.113.7` (HAProxy's ipv6 table holds IPv4 addresses mapped) → `203.0.113.7`. */
export function sourceAddress(key: string): string {
  return key.startsWith('::ffff:') && key.includes('.') ? key.slice('::ffff:'.length) : key;
}

export function sourceRefusalsToLog(
  state: SourceRefusalState,
  counts: ReadonlyMap<string, number>,
  now: number,
  everyMs = 60_000,
): { state: SourceRefusalState; log: Array<{ source: string; refused: number }> } {
  const logged = new Map<string, { count: number; at: number }>();
  const log: Array<{ source: string; refused: number }> = [];
  for (const [key, count] of counts) {
    const last = state.logged.get(key);
    // A lower count: the entry expired and came back, or a new HAProxy worker started counting afresh.
    const since = last === undefined || count < last.count ? 0 : last.count;
    if (count > since && (last === undefined || now - last.at >= everyMs)) {
      log.push({ source: sourceAddress(key), refused: count - since });
      logged.set(key, { count, at: now });
    } else if (last !== undefined) {
      logged.set(key, count < last.count ? { count: 0, at: last.at } : last);
    }
  }
  return { state: { logged }, log };
}
