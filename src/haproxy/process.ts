import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { setTimeout as delay } from 'node:timers/promises';
import type { Logger } from '../log.js';
import { sendCliCommand } from './cli-socket.js';
import { describeTakenPort, findListener } from './port-owner.js';
import { parseVersionOutput } from './version.js';

export interface HaproxyProcessOptions {
  bin: string;
  configPath: string;
  pidfile: string;
  /** Master CLI socket: reloads and their outcome, and a way to reach old workers. */
  masterSocket: string;
  logger: Logger;
  /** Bound on how long a start or reload may take. */
  timeoutMs?: number;
  /** What the config binds, by the variable that sets each port: checked free before a start. */
  listeners?: ReadonlyArray<{ variable: string; address: string; port: number }>;
}

/** A config that `haproxy -c` rejected; `details` holds HAProxy's own ALERT lines (file and line). */
export class ConfigValidationError extends Error {
  constructor(
    readonly file: string,
    readonly details: string,
  ) {
    super(`haproxy rejected ${file}: ${details}`);
    this.name = 'ConfigValidationError';
  }
}

export class HaproxyProcessError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'HaproxyProcessError';
  }
}

interface RunResult {
  code: number | null;
  output: string;
}

/** The master's view of itself: how many reloads it did and how many of those failed. */
export interface MasterStatus {
  masterPid: number;
  reloads: number;
  failedReloads: number;
  /** The current worker(s). */
  workerPids: number[];
  /** Workers left by earlier reloads, still finishing their streams. */
  oldWorkerPids: number[];
}

/**
 * The HAProxy process, in master-worker daemon mode: the pidfile holds the master, a reload is the
 * master re-executing itself with the config on disk and handing the listeners to the new worker
 * (no refused connections); old workers finish their streams. Thin adapter: no decisions here.
 */
export class HaproxyProcess {
  private readonly timeoutMs: number;

  constructor(private readonly opts: HaproxyProcessOptions) {
    this.timeoutMs = opts.timeoutMs ?? 15_000;
  }

  /** `haproxy -c -f file`; resolves when valid, rejects with HAProxy's own ALERT lines otherwise. */
  async validate(file: string): Promise<void> {
    const { code, output } = await this.run(['-c', '-f', file]);
    if (code !== 0) {
      const alerts = output
        .split('\n')
        .filter((l) => /ALERT|error/i.test(l))
        .map((l) => l.replace(/^\[ALERT\]\s*\(\d+\)\s*:\s*/, '').trim());
      throw new ConfigValidationError(file, alerts.length > 0 ? alerts.join('; ') : output.trim() || `exit code ${code}`);
    }
  }

  /** `haproxy -v`'s version (e.g. "3.0.11-9e587df"), or undefined when it does not say one. */
  async version(): Promise<string | undefined> {
    const { code, output } = await this.run(['-v']);
    return code === 0 ? parseVersionOutput(output) : undefined;
  }

  /** The master's pid from the pidfile, when that process is alive. */
  async runningPid(): Promise<number | undefined> {
    let text: string;
    try {
      text = await readFile(this.opts.pidfile, 'utf8');
    } catch {
      return undefined;
    }
    const pid = Number(text.trim().split(/\s+/)[0]);
    if (!Number.isInteger(pid) || pid <= 0) return undefined;
    try {
      process.kill(pid, 0);
    } catch (e) {
      // EPERM: alive but not ours to signal (another user); treat as running.
      if ((e as NodeJS.ErrnoException).code !== 'EPERM') return undefined;
    }
    // A stale pidfile whose pid now belongs to another program is not HAProxy running.
    const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => undefined);
    return cmdline === undefined || cmdline.includes('haproxy') ? pid : undefined;
  }

  /**
   * The ports this HAProxy would bind that another process already listens on, one message each.
   * HAProxy itself would not notice (it binds with SO_REUSEPORT) and would share the streamers.
   */
  async takenPorts(): Promise<string[]> {
    const taken: string[] = [];
    for (const { variable, address, port } of this.opts.listeners ?? []) {
      const holder = await findListener(address, port);
      if (holder) taken.push(describeTakenPort(variable, address, holder));
    }
    return taken;
  }

  /** Starts the master in the background; resolves once it is up and serving (the parent exited 0). */
  async start(): Promise<number> {
    const taken = await this.takenPorts();
    if (taken.length > 0) throw new HaproxyProcessError(`haproxy not started: ${taken.join('; ')}`);
    const { code, output } = await this.run([
      '-W',
      '-D',
      '-f',
      this.opts.configPath,
      '-p',
      this.opts.pidfile,
      '-S',
      `${this.opts.masterSocket},mode,600`,
    ]);
    if (code !== 0) throw new HaproxyProcessError(`haproxy failed to start (exit code ${code}): ${output.trim()}`);
    // The daemonizing parent may exit before the master has written the pidfile and opened its CLI:
    // started means the master answers and has a worker.
    const deadline = Date.now() + this.timeoutMs;
    let last = 'no pidfile yet';
    do {
      const pid = await this.runningPid();
      if (pid !== undefined) {
        try {
          const { workerPids } = await this.masterStatus();
          if (workerPids.length === 0) last = 'the master has no worker yet';
          else if (await this.workerAnswers(workerPids)) return pid;
          else last = 'the admin socket does not answer yet';
        } catch (e) {
          last = `the master CLI did not answer: ${(e as Error).message}`;
        }
      }
      await delay(20);
    } while (Date.now() < deadline);
    throw new HaproxyProcessError(`haproxy did not come up within ${this.timeoutMs} ms (${last})`);
  }

  /** True when the (newest) worker answers its Runtime API, reached through the master CLI. */
  private async workerAnswers(workerPids: readonly number[]): Promise<boolean> {
    const pid = workerPids[workerPids.length - 1];
    if (pid === undefined) return false;
    try {
      return new RegExp(`^Pid: ${pid}$`, 'm').test(await sendCliCommand(this.opts.masterSocket, `@!${pid} show info`, 1000));
    } catch {
      return false;
    }
  }

  /** Master CLI `show proc`, parsed. */
  async masterStatus(): Promise<MasterStatus> {
    const answer = await sendCliCommand(this.opts.masterSocket, 'show proc', this.timeoutMs);
    return parseShowProc(answer);
  }

  /**
   * Graceful reload: the master re-reads the config on disk, the new worker takes the listening
   * sockets, old workers keep their streams until they end. Resolves when the new worker is up.
   */
  async reload(): Promise<void> {
    const before = await this.masterStatus();
    await sendCliCommand(this.opts.masterSocket, 'reload', this.timeoutMs).catch(() => {
      // The master closes the CLI connection as it re-executes; an abrupt close is expected.
    });
    const deadline = Date.now() + this.timeoutMs;
    for (let attempt = 0; Date.now() < deadline && attempt < 1000; attempt++) {
      await delay(Math.min(25 * (attempt + 1), 200));
      let now: MasterStatus;
      try {
        now = await this.masterStatus();
      } catch {
        continue; // the master CLI is briefly away while the master re-executes
      }
      if (now.reloads > before.reloads || now.failedReloads > before.failedReloads) {
        if (now.failedReloads > before.failedReloads) {
          throw new HaproxyProcessError('haproxy reload failed: the master kept the previous workers');
        }
        if (await this.workerAnswers(now.workerPids)) return;
      }
    }
    throw new HaproxyProcessError(`haproxy reload did not complete within ${this.timeoutMs} ms`);
  }

  /**
   * Stops HAProxy. SIGUSR1 closes the listeners at once (no new streams) and lets workers finish the
   * live ones; after `graceMs` SIGTERM cuts what is left. Resolves when the master is gone.
   */
  async stop({ graceMs = 0 }: { graceMs?: number } = {}): Promise<void> {
    const pid = await this.runningPid();
    if (pid === undefined) return;
    const gone = async (withinMs: number) => {
      const deadline = Date.now() + withinMs;
      do {
        if ((await this.runningPid()) !== pid) return true;
        await delay(50);
      } while (Date.now() < deadline);
      return false;
    };
    if (graceMs > 0) {
      signal(pid, 'SIGUSR1');
      if (await gone(graceMs)) return;
      this.opts.logger.warn({ graceMs }, 'live streams outlasted the shutdown grace period; stopping HAProxy now');
    }
    signal(pid, 'SIGTERM');
    if (await gone(this.timeoutMs)) return;
    signal(pid, 'SIGKILL');
    await gone(this.timeoutMs);
  }

  private run(args: string[]): Promise<RunResult> {
    return new Promise((resolve, reject) => {
      // stdout/stderr: HAProxy's daemonized master closes its copies, so 'exit' (not 'close') ends this.
      const child = spawn(this.opts.bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
      let output = '';
      child.stdout.on('data', (d) => (output += d));
      child.stderr.on('data', (d) => (output += d));
      const timer = setTimeout(() => child.kill('SIGKILL'), this.timeoutMs);
      child.on('error', (e) => {
        clearTimeout(timer);
        reject(
          (e as NodeJS.ErrnoException).code === 'ENOENT'
            ? new HaproxyProcessError(`HAPROXY_BIN=${this.opts.bin} was not found: install haproxy (Debian: apt-get install haproxy)`)
            : e,
        );
      });
      child.on('exit', (code) => {
        clearTimeout(timer);
        // Give buffered output a moment to arrive without waiting on the daemon's inherited pipes.
        setImmediate(() => {
          child.stdout.destroy();
          child.stderr.destroy();
          this.opts.logger.debug({ args, code }, 'haproxy command finished');
          resolve({ code, output });
        });
      });
    });
  }
}

export function parseShowProc(answer: string): MasterStatus {
  let masterPid = 0;
  let reloads = 0;
  let failedReloads = 0;
  const workerPids: number[] = [];
  const oldWorkerPids: number[] = [];
  let section = '';
  for (const line of answer.split('\n')) {
    if (line.startsWith('# ')) {
      section = line.slice(2).trim();
      continue;
    }
    const master = /^(\d+)\s+master\s+(\d+)\s+\[failed:\s*(\d+)\]/.exec(line);
    if (master) {
      masterPid = Number(master[1]);
      reloads = Number(master[2]);
      failedReloads = Number(master[3]);
      continue;
    }
    const worker = /^(\d+)\s+worker\s/.exec(line);
    if (worker) (section === 'old workers' ? oldWorkerPids : workerPids).push(Number(worker[1]));
  }
  if (masterPid === 0) throw new HaproxyProcessError(`unexpected answer to "show proc": ${answer.slice(0, 200)}`);
  return { masterPid, reloads, failedReloads, workerPids, oldWorkerPids };
}

function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ESRCH') throw e;
  }
}
