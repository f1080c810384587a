/**
 * Which HAProxy versions keep `maxconn 1` when a Server comes up while streamers wait in the queue.
 * Pure: version text in, verdict out.
 *
 * Up to HAProxy commit 111ea83ed (2024-12-17, "queues: Do not use pendconn_grab_from_px()"), a server
 * coming up (health check up, `enable server`) was handed streams waiting in the backend's queue by a
 * function that did not count them against maxconn until they connected: on Debian 12's 2.6.12, bench
 * section 6 measured 4 double-booked Servers in 3 runs (up to 19 s each) and worker restarts that cut
 * every stream; 3.0.11, the same runs, 0. The fix was backported
 * to each maintained branch in the releases below. Commit 3372a2ea0 (the `served` count taken when the
 * server is picked, not after) closes a narrower race between threads and is in 3.2.0 and later only.
 */

/** The first release of each branch with the queue hand-off fix; 3.2 and later have it from .0. */
const QUEUE_FIX_RELEASE: Readonly<Record<string, number>> = { '2.6': 21, '2.8': 14, '3.0': 8, '3.1': 3 };
/** Branches that ended before the fix, or whose backport we could not confirm. */
const FIRST_FIXED_BRANCH = { major: 3, minor: 2 };

export interface HaproxyVersion {
  /** As `haproxy -v` prints it, e.g. "3.0.11-9e587df" or "2.6.12-1+deb12u4". */
  text: string;
  major: number;
  minor: number;
  patch: number;
}

/** The version in `haproxy -v`'s output ("HAProxy version 3.0.11-9e587df 2025/06/02 - …"). */
export function parseVersionOutput(output: string): string | undefined {
  return /HAProxy version (\S+)/.exec(output)?.[1];
}

export function parseVersion(text: string): HaproxyVersion | undefined {
  const m = /^(\d+)\.(\d+)(?:\.(\d+))?/.exec(text);
  if (!m) return undefined;
  return { text, major: Number(m[1]), minor: Number(m[2]), patch: Number(m[3] ?? 0) };
}

/** Runtime `add server` / `del server`, which the daemon's runtime apply mode needs, came in 2.6. */
export function supportsRuntimeServers(v: HaproxyVersion): boolean {
  return v.major > 2 || (v.major === 2 && v.minor >= 6);
}

export type MaxconnVerdict = { holds: true } | { holds: false; fixedIn: string; reason: string };

/** Whether this HAProxy keeps maxconn when a server comes up with a queue waiting. */
export function maxconnUnderBursts(v: HaproxyVersion): MaxconnVerdict {
  const branch = `${v.major}.${v.minor}`;
  const fixedAt = QUEUE_FIX_RELEASE[branch];
  if (v.major > FIRST_FIXED_BRANCH.major || (v.major === FIRST_FIXED_BRANCH.major && v.minor >= FIRST_FIXED_BRANCH.minor)) return { holds: true };
  if (fixedAt !== undefined && v.patch >= fixedAt) return { holds: true };
  const fixedIn = fixedAt !== undefined ? `${branch}.${fixedAt}` : `${FIRST_FIXED_BRANCH.major}.${FIRST_FIXED_BRANCH.minor}`;
  return {
    holds: false,
    fixedIn,
    reason:
      `HAProxy ${v.text} can hand a Server that comes up more than one queued stream, breaking maxconn 1 under bursts ` +
      `(fixed upstream by commit 111ea83ed, in ${fixedIn} and later); ` +
      'run HAProxy 3.0.8 or newer (test/build-haproxy.sh builds one)',
  };
}
