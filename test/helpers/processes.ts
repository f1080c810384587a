// Process hygiene for end-to-end tests: everything a test starts is stopped in an after() hook,
// pass or fail, and /proc tells us how many processes of a kind are alive.
import type { ChildProcess } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';

/** Stop a child: SIGTERM, then SIGKILL if it has not exited within graceMs. Resolves once it is gone. */
export async function stopChild(child: ChildProcess, graceMs = 3000): Promise<void> {
  if (hasExited(child) || child.pid === undefined) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  if (await within(exited, graceMs)) return;
  child.kill('SIGKILL');
  await within(exited, 2000);
}

export function hasExited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

/**
 * Cleanup registry: track children and other teardown steps as they are created, then `run()` them
 * all (newest first) from an after() hook. Every step runs even if an earlier one fails; the
 * failures are thrown together at the end so leaks are not silent.
 */
export class Cleanup {
  private steps: Array<{ what: string; fn: () => unknown }> = [];

  /** Stop this child process at cleanup. Returns the child, for inline use. */
  track<C extends ChildProcess>(child: C, what = `pid ${child.pid}`): C {
    this.defer(what, () => stopChild(child));
    return child;
  }

  /** Run fn at cleanup (stop a server, remove a temp dir...). */
  defer(what: string, fn: () => unknown): void {
    this.steps.push({ what, fn });
  }

  async run(): Promise<void> {
    const steps = this.steps.reverse();
    this.steps = [];
    const errors: Error[] = [];
    for (const step of steps) {
      try {
        await step.fn();
      } catch (error) {
        errors.push(new Error(`cleanup of ${step.what} failed: ${error instanceof Error ? error.message : String(error)}`));
      }
    }
    if (errors.length > 0) throw new AggregateError(errors, errors.map((e) => e.message).join('; '));
  }
}

export interface ProcessInfo {
  pid: number;
  /** Executable name as the kernel keeps it (/proc/PID/comm, at most 15 characters). */
  name: string;
  /** Arguments joined with spaces. */
  cmdline: string;
}

/**
 * Node's main thread name: `node` up to Node 22, `node-MainThread` after (it is what /proc/PID/comm
 * shows for the process). Tests that look for node processes ask for both.
 */
export const NODE_PROCESS_NAMES = ['node', 'node-MainThread'] as const;

/** Live processes whose name is `name` (or one of names), optionally only those whose command line contains a string. */
export async function listProcesses(name: string | readonly string[], opts: { cmdlineIncludes?: string } = {}): Promise<ProcessInfo[]> {
  const names = (typeof name === 'string' ? [name] : name).map((n) => n.slice(0, 15));
  const found: ProcessInfo[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    // A process may exit between readdir and read: skip it.
    const comm = await readFile(`/proc/${entry}/comm`, 'utf8').catch(() => undefined);
    if (comm === undefined || !names.includes(comm.trim())) continue;
    const rawCmdline = await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '');
    const cmdline = rawCmdline.split('\0').filter(Boolean).join(' ');
    // Zombies keep their comm but are not running anything: don't count them.
    const stat = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => '');
    if (/\)\s+Z\s/.test(stat)) continue;
    if (opts.cmdlineIncludes !== undefined && !cmdline.includes(opts.cmdlineIncludes)) continue;
    found.push({ pid: Number(entry), name: comm.trim(), cmdline });
  }
  return found;
}

/**
 * How many live processes are called `name` (e.g. 'haproxy'). Other engineers' tests may run on the
 * same machine, so pass cmdlineIncludes (e.g. your temp config path) to count only yours.
 */
export async function countProcesses(name: string, opts: { cmdlineIncludes?: string } = {}): Promise<number> {
  return (await listProcesses(name, opts)).length;
}

/** True when `p` settles within `ms`; never waits longer. */
export async function within(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p.then(() => true),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
