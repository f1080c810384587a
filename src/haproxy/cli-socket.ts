import net from 'node:net';
import { LineSplitter } from '../line-splitter.js';

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

/**
 * Like sendCliCommand, but hands the answer to `onLine` line by line as it arrives (a Buffer without
 * its '\n', valid only during the call): a large answer (`show stat` of thousands of servers is MBs)
 * is never held whole nor decoded into one big string. An exception from `onLine` ends the command
 * and rejects with it.
 */
export function streamCliCommand(socketPath: string, command: string, onLine: (line: Buffer) => void, timeoutMs = 5000): Promise<void> {
  if (/[\r\n]/.test(command)) return Promise.reject(new Error('a CLI command must be one line'));
  return new Promise((resolve, reject) => {
    let failed = false;
    const conn = net.createConnection(socketPath);
    const fail = (e: unknown) => {
      if (failed) return;
      failed = true;
      clearTimeout(timer);
      conn.destroy();
      reject(e);
    };
    const lines = new LineSplitter(onLine);
    const timer = setTimeout(() => fail(new Error(`no answer from ${socketPath} to "${command}" within ${timeoutMs} ms`)), timeoutMs);
    conn.on('connect', () => conn.end(`${command}\n`));
    conn.on('data', (chunk: Buffer) => {
      if (failed) return;
      try {
        lines.push(chunk);
      } catch (e) {
        fail(e);
      }
    });
    conn.on('error', fail);
    conn.on('close', (hadError) => {
      if (failed || hadError) return;
      clearTimeout(timer);
      try {
        lines.end();
      } catch (e) {
        failed = true;
        reject(e);
        return;
      }
      resolve();
    });
  });
}
