// Bounded polling for tests: every wait has a deadline and says what it was waiting for.
import { canConnect } from '../../dev/media/rtmp-server.js';
import { inspect } from 'node:util';

export interface WaitOptions {
  timeoutMs: number;
  /** Pause between probes, default 100 ms. */
  intervalMs?: number;
  /** Shown in the timeout error: "Timed out after 5000ms waiting for <what>". */
  what: string;
}

/**
 * Call probe until it returns a truthy value (returned) or the deadline passes (throws, with the
 * last value or error the probe gave). A probe that throws is retried, not fatal: the thing being
 * waited for is often not up yet.
 */
/** What a successful probe can return: its type without the falsy values. */
export type Truthy<T> = Exclude<T, false | 0 | 0n | '' | null | undefined>;

export async function waitFor<T>(probe: () => T | Promise<T>, opts: WaitOptions): Promise<Truthy<T>> {
  const intervalMs = opts.intervalMs ?? 100;
  const deadline = Date.now() + opts.timeoutMs;
  let last: { value: T } | { error: unknown } | undefined;
  for (;;) {
    try {
      const value = await probe();
      if (value) return value as Truthy<T>;
      last = { value };
    } catch (error) {
      last = { error };
    }
    const remaining = deadline - Date.now();
    if (remaining <= 0) break;
    await new Promise((resolve) => setTimeout(resolve, Math.min(intervalMs, remaining)));
  }
  const lastSeen =
    last === undefined
      ? 'no probe completed'
      : 'error' in last
        ? `last error: ${last.error instanceof Error ? last.error.message : inspect(last.error)}`
        : `last value: ${inspect(last.value, { depth: 4, breakLength: Infinity })}`;
  throw new Error(`Timed out after ${opts.timeoutMs}ms waiting for ${opts.what} (${lastSeen})`);
}

/** True if a TCP connection to host:port is accepted within timeoutMs (default 1 s). */
export function tcpConnectable(host: string, port: number, timeoutMs = 1000): Promise<boolean> {
  return canConnect(host, port, timeoutMs);
}
