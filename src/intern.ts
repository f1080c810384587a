/** Distinct values kept: the enum-like values interned (statuses, zones, names) are a few dozen. */
const MAX_INTERNED = 512;
const interned = new Map<string, string>();

/**
 * One copy of a value that repeats across thousands of Servers (an ECS status, a zone, HAProxy's
 * `UP`): each parsed answer brings its own copies, which a cache of 5,000 tasks would keep. Past
 * MAX_INTERNED distinct values (not expected), values are returned as they are.
 */
export function intern<T extends string | undefined>(value: T): T {
  if (value === undefined) return value;
  const kept = interned.get(value);
  if (kept !== undefined) return kept as T;
  if (interned.size < MAX_INTERNED) interned.set(value, value);
  return value;
}
