// The emulator as its own process (dev/emulator/main.ts, what docker compose runs), and its first line.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { TestContext } from 'node:test';

/** Starts it with `env` on top of this process's, killed after the test; resolves with its startup line (JSON). */
export async function startEmulatorProcess(t: TestContext, env: Record<string, string>): Promise<{ child: ChildProcess; started: Record<string, unknown> & { url: string; msg: string } }> {
  const main = fileURLToPath(new URL('../../dev/emulator/main.js', import.meta.url));
  const child = spawn(process.execPath, ['--no-warnings', main], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  const lines = createInterface({ input: child.stdout! });
  const firstLine = await Promise.race([
    once(lines, 'line').then(([line]) => String(line)),
    new Promise<string>((_, reject) => setTimeout(() => reject(new Error('no startup line within 10 s')), 10_000).unref()),
  ]);
  return { child, started: JSON.parse(firstLine) as Record<string, unknown> & { url: string; msg: string } };
}

/** Sends SIGTERM and resolves with the exit code; rejects when it does not exit within 10 s. */
export async function exitCodeOnSigterm(child: ChildProcess): Promise<number | null> {
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const [code] = (await Promise.race([
    exited,
    new Promise<never>((_, reject) => setTimeout(() => reject(new Error('no exit within 10 s of SIGTERM')), 10_000).unref()),
  ])) as [number | null];
  return code;
}
