import net from 'node:net';

/** A command the HAProxy CLI answered with an error message instead of a result. */
export class CliCommandError extends Error {
  constructor(
    readonly command: string,
    readonly answer: string,
  ) {
    super(`haproxy refused "${command}": ${answer.trim()}`);
    this.name = 'CliCommandError';
  }
}

/**
 * Sends one command to an HAProxy CLI socket (admin socket or master CLI) and returns the whole
 * answer. Non-interactive mode: HAProxy answers and closes. Bounded by `timeoutMs`.
 */
export function sendCliCommand(socketPath: string, command: string, timeoutMs = 5000): Promise<string> {
  if (/[\r\n]/.test(command)) return Promise.reject(new Error('a CLI command must be one line'));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const conn = net.createConnection(socketPath);
    const timer = setTimeout(() => {
      conn.destroy();
      reject(new Error(`no answer from ${socketPath} to "${command}" within ${timeoutMs} ms`));
    }, timeoutMs);
    conn.on('connect', () => conn.end(`${command}\n`));
    conn.on('data', (d) => chunks.push(d));
    conn.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    conn.on('close', (hadError) => {
      clearTimeout(timer);
      if (!hadError) resolve(Buffer.concat(chunks).toString('utf8'));
    });
  });
}
