import { formatAddress, type RuntimeServer, type Server } from '../model.js';
import { intern } from '../intern.js';
import { LineSplitter } from '../line-splitter.js';
import { CliSession, StaleSessionError } from './cli-session.js';
import { CliCommandError, sendCliCommand, streamCliCommand } from './cli-socket.js';

/** What a successful command answers; anything else is HAProxy refusing it. */
const SUCCESS = /^(|New server registered\.|Server deleted\.)$/;

/**
 * The Runtime API of one HAProxy worker (the admin socket), or of an old worker reached through the
 * master CLI (`@!<pid>` prefix). Thin adapter: one command per call, answers parsed, no decisions.
 * With a session, changes go through it (no connect per change); reads always open their own connection,
 * so a long `show stat` never holds a change back.
 */
export class RuntimeApi {
  constructor(
    private readonly socketPath: string,
    private readonly prefix = '',
    private readonly timeoutMs = 5000,
    private readonly session?: CliSession,
  ) {}

  /** The same API on one worker (an old one, or the current one when the admin socket is gone), through the master CLI. */
  static viaMaster(masterSocket: string, pid: number, timeoutMs?: number): RuntimeApi {
    return new RuntimeApi(masterSocket, `@!${pid} `, timeoutMs);
  }

  async command(cmd: string): Promise<string> {
    return sendCliCommand(this.socketPath, this.prefix + cmd, this.timeoutMs);
  }

  /** Runs a command that changes state; rejects with HAProxy's own message when refused. */
  change(cmd: string): Promise<void> {
    return this.changeAll([cmd]);
  }

  /**
   * Several state changes in one round trip: HAProxy runs each, whatever the one before answered.
   * Only for commands that are all right to run even when one before them is refused; rejects when
   * any is refused.
   */
  async changeAll(cmds: readonly string[]): Promise<void> {
    if (cmds.some((c) => c.includes(';'))) throw new Error(`a chained CLI command must not contain ";": ${cmds.join(' | ')}`);
    const answer = await this.changeAnswers(cmds);
    // Each command's answer ends with a blank line; success is an empty answer or a success message.
    if (answer.split('\n').some((line) => line.trim() !== '' && !SUCCESS.test(line.trim()))) throw new CliCommandError(cmds.join('; '), answer);
  }

  private async changeAnswers(cmds: readonly string[]): Promise<string> {
    if (this.session) {
      try {
        return (await this.session.run(cmds)).join('\n');
      } catch (e) {
        // Reloaded by someone else: the commands went to the stopping worker; again, to the one that took over.
        if (!(e instanceof StaleSessionError)) throw e;
      }
    }
    // `a; b` on one connection; through the master CLI each needs the worker's prefix, or the master takes it for its own.
    return this.command(cmds.join(`; ${this.prefix}`));
  }

  /** Every session (`show sess`), parsed. */
  async sessions(): Promise<SessionInfo[]> {
    return parseShowSess(await this.command('show sess'));
  }

  /** The backend's servers (`show stat`), parsed as the answer streams in: MBs at thousands of servers. */
  async servers(backend: string): Promise<RuntimeServer[]> {
    const parser = new ServerStatsParser(backend);
    await streamCliCommand(this.socketPath, `${this.prefix}show stat ${backend} 4 -1`, (line) => parser.line(line), this.timeoutMs);
    return parser.done();
  }

  /** Connections a frontend carries now. */
  /** The backend's own row: streamers in its queue, and connections it failed to place (queue timeouts count here). */
  async backendCounters(backend: string): Promise<{ queued: number; failedConnections: number }> {
    const row = parseCsv(await this.command(`show stat ${backend} 2 -1`)).find((r) => r.svname === 'BACKEND');
    const queued = Number(row?.qcur);
    const failedConnections = Number(row?.econ);
    if (!Number.isInteger(queued) || !Number.isInteger(failedConnections)) throw new Error(`no queue or failed-connection count for backend ${backend} in "show stat"`);
    return { queued, failedConnections };
  }

  /** The frontend's refusals since the worker started: by `tcp-request connection` rules (dcon) and content rules (dreq). */
  async frontendRefusals(frontend: string): Promise<{ connections: number; requests: number }> {
    const row = parseCsv(await this.command(`show stat ${frontend} 1 -1`)).find((r) => r.svname === 'FRONTEND');
    const connections = Number(row?.dcon);
    const requests = Number(row?.dreq);
    if (!Number.isInteger(connections) || !Number.isInteger(requests)) throw new Error(`no denied counts for frontend ${frontend} in "show stat"`);
    return { connections, requests };
  }

  /** A stick table's entries whose counter `field` is above 0: key → value (`show table <t> data.<field> gt 0`). */
  async stickTableCounts(table: string, field: string): Promise<Map<string, number>> {
    return parseStickTable(await this.command(`show table ${table} data.${field} gt 0`), field);
  }

  async frontendSessions(frontend: string): Promise<number> {
    const row = parseCsv(await this.command(`show stat ${frontend} 1 -1`)).find((r) => r.svname === 'FRONTEND');
    const scur = Number(row?.scur);
    if (!Number.isInteger(scur)) throw new Error(`no session count for frontend ${frontend} in "show stat"`);
    return scur;
  }

  /** A new server, enabled with its health check: `add server` leaves it in maintenance. */
  async addServer(backend: string, server: Server, opts: { enable: boolean; options: string }): Promise<void> {
    // Alone first: chained, a `state ready` after a refused add would enable a server of the same name.
    await this.change(`add server ${backend}/${server.name} ${formatAddress(server.address, server.port)} ${opts.options}`);
    const target = `${backend}/${server.name}`;
    await this.changeAll([...(opts.enable ? [`set server ${target} state ready`] : []), `enable health ${target}`]);
  }

  /** Back in rotation, from maintenance or a claim (drain). */
  enableServer(backend: string, name: string): Promise<void> {
    return this.change(`set server ${backend}/${name} state ready`);
  }

  /** A claim: takes no new stream (weight 0) yet shows peers, which read `show stat`, that it is taken. */
  claimServer(backend: string, name: string): Promise<void> {
    return this.change(`set server ${backend}/${name} state drain`);
  }

  /** Maintenance: no new connections; the live stream continues. */
  disableServer(backend: string, name: string): Promise<void> {
    return this.change(`disable server ${backend}/${name}`);
  }

  /** HAProxy refuses this while a connection is attached, which is what we want. */
  deleteServer(backend: string, name: string): Promise<void> {
    return this.change(`del server ${backend}/${name}`);
  }

  /** Cuts the connections on a server: only for a drain that outlived SERVER_DRAIN_TIMEOUT. */
  shutdownSessions(backend: string, name: string): Promise<void> {
    return this.change(`shutdown sessions server ${backend}/${name}`);
  }
}

/** `show table` lines (`0x…: key=<k> use=… <field>=<n> …`) → key → the field's value. */
export function parseStickTable(answer: string, field: string): Map<string, number> {
  const counts = new Map<string, number>();
  const value = new RegExp(`\\s${field.replace(/[()]/g, '\\$&')}=(\\d+)`);
  for (const line of answer.split('\n')) {
    const key = /\skey=(\S+)/.exec(line)?.[1];
    const n = value.exec(line)?.[1];
    if (key !== undefined && n !== undefined) counts.set(key, Number(n));
  }
  return counts;
}

/** `show stat` CSV (header line starting with "# ") → one record per row, keyed by column name. */
export function parseCsv(answer: string): Array<Record<string, string>> {
  const lines = answer.split('\n').filter((l) => l.trim() !== '');
  const header = lines.shift();
  if (header === undefined || !header.startsWith('# ')) {
    throw new Error(`unexpected answer to "show stat": ${answer.slice(0, 200).trim() || '(empty)'}`);
  }
  const columns = header.slice(2).split(',');
  return lines.map((line) => {
    const cells = line.split(',');
    return Object.fromEntries(columns.map((c, i) => [c, cells[i] ?? '']));
  });
}

/** `show stat` rows of one backend's servers (the whole answer as text). */
export function parseServerStats(answer: string, backend: string): RuntimeServer[] {
  const parser = new ServerStatsParser(backend);
  const lines = new LineSplitter((line) => parser.line(line));
  lines.push(Buffer.from(answer, 'utf8'));
  lines.end();
  return parser.done();
}

const NEEDED = ['pxname', 'svname', 'scur', 'status', 'addr'] as const;
type Needed = (typeof NEEDED)[number];

/**
 * The used columns' cells of a `show stat` line as captures, in column order: one match per line (a
 * V8 builtin) instead of a JavaScript loop over the ~75 commas before `addr`, which costs twice as
 * much under the daemon's --lite-mode. A short line matches as far as it goes (its later cells: none).
 */
function cellsPattern(columns: readonly number[]): RegExp {
  const skip = (n: number) => (n > 0 ? `(?:[^,]*,){${n}}` : '');
  let source = '';
  columns.forEach((column, i) => {
    const before = i === 0 ? column : column - columns[i - 1]! - 1;
    source = i === 0 ? `^${skip(before)}([^,]*)` : `${source}(?:,${skip(before)}([^,]*)`;
  });
  // `d`: where each cell is, so a kept value is decoded from the line's own bytes.
  return new RegExp(source + ')?'.repeat(columns.length - 1), 'd');
}

/**
 * `show stat` (CSV, header line starting with "# ") → one backend's servers, a line at a time.
 * A line has ~100 columns and there is one per server: only the 5 columns used are decoded, so 5,000
 * servers do not make 500,000 strings. The line is matched as latin1 text (one character per byte,
 * so a cell's place in it is its place in the bytes); each kept value is decoded as UTF-8 from the
 * bytes on its own, so it does not hold the line alive (a substring of a big string would).
 */
export class ServerStatsParser {
  private pattern: RegExp | undefined;
  /** Each needed column's capture group in the pattern. */
  private capture: Record<Needed, number> | undefined;
  /** An answer that is not `show stat` (HAProxy's error text): its start, for the message. */
  private unexpected: string | undefined;
  /** The backend's name as the latin1 text of its UTF-8 bytes, as a line's pxname cell reads. */
  private readonly backend: string;
  private readonly servers: RuntimeServer[] = [];

  constructor(backend: string) {
    this.backend = Buffer.from(backend, 'utf8').toString('latin1');
  }

  line(line: Buffer): void {
    if (this.unexpected !== undefined) {
      if (this.unexpected.length < 200) this.unexpected += `\n${line.toString('utf8', 0, 200)}`;
      return;
    }
    if (this.pattern === undefined || this.capture === undefined) return this.header(line.toString('utf8'));
    const match = this.pattern.exec(line.toString('latin1'));
    const { capture } = this;
    if (match === null || match[capture.pxname] !== this.backend) return;
    const cell = (column: Needed) => {
      const at = match.indices![capture[column]];
      return at === undefined ? undefined : line.toString('utf8', at[0], at[1]);
    };
    const name = cell('svname');
    if (name === undefined || name === 'BACKEND' || name === 'FRONTEND') return;
    const address = cell('addr') ?? '';
    const colon = address.lastIndexOf(':');
    const state = cell('status') ?? '';
    this.servers.push({
      name,
      address: address.slice(0, colon).replace(/^\[(.*)\]$/, '$1'),
      port: Number(address.slice(colon + 1)),
      sessions: Number(match[capture.scur] ?? '') || 0,
      // Draining (a claim) takes no new stream either.
      maintenance: state.includes('MAINT') || state.startsWith('DRAIN'),
      status: intern(state),
    });
  }

  private header(text: string): void {
    if (!text.startsWith('# ')) {
      this.unexpected = text.slice(0, 200);
      return;
    }
    const names = text.slice(2).split(',');
    const at = (name: Needed) => {
      const i = names.indexOf(name);
      if (i < 0) throw new Error(`"show stat" has no ${name} column`);
      return i;
    };
    const columns = NEEDED.map((name) => ({ name, column: at(name) })).sort((a, b) => a.column - b.column);
    this.pattern = cellsPattern(columns.map((c) => c.column));
    this.capture = Object.fromEntries(columns.map((c, i) => [c.name, i + 1])) as Record<Needed, number>;
  }

  /** The servers; throws when the answer was not `show stat`. */
  done(): RuntimeServer[] {
    if (this.pattern === undefined) {
      throw new Error(`unexpected answer to "show stat": ${(this.unexpected ?? '').slice(0, 200).trim() || '(empty)'}`);
    }
    return this.servers;
  }
}

/** One session from HAProxy's `show sess`, reduced to what status needs. */
export interface SessionInfo {
  /** Backend name, or undefined (`<NONE>`: the CLI's own session, say). */
  backend: string | undefined;
  /** Server name, or undefined while the session waits in the queue (`<none>`). */
  server: string | undefined;
  /** The client's address (the streamer), as HAProxy prints it. */
  source: string;
  /** Age in seconds. HAProxy prints at most two units (`59m59s`, `2h15m`, `3d4h`): exact below an hour. */
  ageSeconds: number | undefined;
  /** The age as HAProxy printed it. */
  age: string;
}

/** HAProxy's human-readable duration (`42s`, `5m3s`, `2h15m`, `3d4h`) → seconds; undefined for `?` or garbage. */
export function parseHaproxyAge(text: string): number | undefined {
  if (!/^(\d+[dhms])+$/.test(text)) return undefined;
  const unit: Record<string, number> = { d: 86_400, h: 3_600, m: 60, s: 1 };
  let total = 0;
  for (const [, n, u] of text.matchAll(/(\d+)([dhms])/g)) total += Number(n) * unit[u!]!;
  return total;
}

/** `show sess` (one line per session: `0x…: proto=tcpv4 src=… fe=… be=… srv=… … age=…`) → sessions. */
export function parseShowSess(answer: string): SessionInfo[] {
  const sessions: SessionInfo[] = [];
  for (const line of answer.split('\n')) {
    if (!/^0x[0-9a-f]+:/i.test(line)) continue;
    const field = (key: string) => new RegExp(`\\s${key}=(\\S*)`).exec(line)?.[1];
    const named = (v: string | undefined) => (v === undefined || v === '' || v.toLowerCase() === '<none>' ? undefined : v);
    const age = field('age') ?? '?';
    sessions.push({ backend: named(field('be')), server: named(field('srv')), source: field('src') ?? '?', ageSeconds: parseHaproxyAge(age), age });
  }
  return sessions;
}
