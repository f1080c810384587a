import net from 'node:net';
import { StringDecoder } from 'node:string_decoder';

/**
 * The session's worker was stopping (a reload the daemon did not make): the commands ran there, not in
 * the worker that takes new streams. The session is closed; send them again on a new connection.
 */
export class StaleSessionError extends Error {
  constructor(readonly pid: number) {
    super(`the CLI session's worker (pid ${pid}) is stopping: HAProxy was reloaded`);
    this.name = 'StaleSessionError';
  }
}

/** What HAProxy writes after each answer in interactive mode with the prompt. */
const PROMPT = '\n> ';
/** HAProxy keeps the session this long without a command (`set timeout cli`, seconds): the idle checks come far sooner. */
const IDLE_TIMEOUT_S = 86_400;
/** With no command for this long, the session asks its worker whether it is stopping (ms). */
export const IDLE_CHECK_MS = 2000;

interface Batch {
  /** Answers this batch waits for: its set-up lines, its commands, then `show info`. */
  expect: number;
  answers: string[];
  resolve(answers: string[]): void;
  reject(e: Error): void;
  timer: NodeJS.Timeout;
}

interface Connection {
  socket: net.Socket;
  decoder: StringDecoder;
  /** Text after the last prompt: the answer that is arriving. */
  text: string;
  /** Batches written, oldest first; answers come in the same order. */
  batches: Batch[];
  lastWrite: number;
  idleCheck: NodeJS.Timeout;
}

/**
 * One interactive connection to an HAProxy worker's admin socket (`prompt`), kept between commands: a
 * change then costs one write and one answer, not a connect, an accept and a close each. Batches are
 * written as they come (HAProxy answers in order), so none waits for another's answer.
 *
 * A kept connection stays with the worker that accepted it, also once a reload made it an old one, and
 * keeps that worker alive. So every batch ends with `show info`: when the worker says `Stopping: 1`,
 * the session is closed and the batch rejects with StaleSessionError. When idle, the session asks the
 * same every IDLE_CHECK_MS, so an old worker is let go within that. Whoever reloads closes the session
 * first (`close`). The socket does not keep Node running.
 */
export class CliSession {
  private conn: Connection | undefined;

  constructor(
    private readonly socketPath: string,
    private readonly timeoutMs = 5000,
  ) {}

  /** Each command's answer, in order; HAProxy runs each whatever the one before answered. */
  async run(commands: readonly string[]): Promise<string[]> {
    if (commands.some((c) => /[\r\n]/.test(c))) throw new Error('a CLI command must be one line');
    const opening = this.conn === undefined;
    const conn = this.conn ?? this.open();
    // Opening costs no round trip of its own: the mode and the idle timeout go in the same write.
    const setup = opening ? ['prompt', `set timeout cli ${IDLE_TIMEOUT_S}`] : [];
    const lines = [...setup, ...commands, 'show info'];
    const answers = await new Promise<string[]>((resolve, reject) => {
      const timer = setTimeout(() => this.drop(conn, new Error(`no answer from ${this.socketPath} to "${commands.join('; ') || 'show info'}" within ${this.timeoutMs} ms`)), this.timeoutMs);
      conn.batches.push({ expect: lines.length, answers: [], resolve, reject, timer });
      conn.lastWrite = Date.now();
      conn.socket.write(`${lines.join('\n')}\n`);
    });
    const info = answers.pop() ?? '';
    const refusedSetup = answers.splice(0, setup.length).find((a) => a.trim() !== '');
    if (refusedSetup !== undefined) {
      this.drop(conn, new Error('the CLI session was refused'));
      throw new Error(`${this.socketPath} refused the interactive session: ${refusedSetup.trim()}`);
    }
    const pid = /^Pid: (\d+)$/m.exec(info)?.[1];
    if (pid === undefined) {
      this.drop(conn, new Error('the CLI session answered out of step'));
      throw new Error(`${this.socketPath} answered "show info" without its Pid: ${info.slice(0, 200).trim() || '(empty)'}`);
    }
    if (/^Stopping: 1$/m.test(info)) {
      this.drop(conn, new StaleSessionError(Number(pid)));
      throw new StaleSessionError(Number(pid));
    }
    return answers;
  }

  /** Closes the connection (the next batch opens another); batches waiting for their answers reject. */
  close(): void {
    if (this.conn) this.drop(this.conn, new Error('the CLI session was closed'));
  }

  private open(): Connection {
    const socket = net.createConnection(this.socketPath);
    socket.unref();
    const conn: Connection = {
      socket,
      decoder: new StringDecoder('utf8'),
      text: '',
      batches: [],
      lastWrite: Date.now(),
      idleCheck: setInterval(() => {
        if (Date.now() - conn.lastWrite >= IDLE_CHECK_MS && conn.batches.length === 0) this.run([]).catch(() => undefined);
      }, IDLE_CHECK_MS).unref(),
    };
    socket.on('data', (chunk: Buffer) => this.received(conn, chunk));
    socket.on('error', (e) => this.drop(conn, e));
    socket.on('close', () => this.drop(conn, new Error(`HAProxy closed the CLI session on ${this.socketPath}`)));
    this.conn = conn;
    return conn;
  }

  private received(conn: Connection, chunk: Buffer): void {
    conn.text += conn.decoder.write(chunk);
    for (let at = conn.text.indexOf(PROMPT); at >= 0; at = conn.text.indexOf(PROMPT)) {
      const batch = conn.batches[0];
      if (batch === undefined) return this.drop(conn, new Error('HAProxy answered on the CLI session unasked'));
      batch.answers.push(conn.text.slice(0, at));
      conn.text = conn.text.slice(at + PROMPT.length);
      if (batch.answers.length < batch.expect) continue;
      conn.batches.shift();
      clearTimeout(batch.timer);
      batch.resolve(batch.answers);
    }
  }

  private drop(conn: Connection, e: Error): void {
    if (conn === this.conn) this.conn = undefined;
    clearInterval(conn.idleCheck);
    conn.socket.destroy();
    for (const batch of conn.batches.splice(0)) {
      clearTimeout(batch.timer);
      batch.reject(e);
    }
  }
}
