// `show stat` parsing: the column-scanning parser against HAProxy's real output and against the plain
// split-every-cell parser it replaced, whole or streamed in chunks from a socket.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { streamCliCommand } from '../src/haproxy/cli-socket.js';
import { parseServerStats, RuntimeApi } from '../src/haproxy/runtime-api.js';
import type { RuntimeServer } from '../src/model.js';
import { PACKAGE_ROOT } from '../src/paths.js';

/** `show stat bk_rtmp 4 -1` from HAProxy 3.0.11: a server in DRAIN, one MAINT (IPv6), one DOWN (check). */
const SAMPLE = path.join(PACKAGE_ROOT, 'test', 'fixtures', 'show-stat-haproxy-3.0.csv');

/** The parser before the column scan: every line split into every cell. The reference. */
function splitEveryCell(answer: string, backend: string): RuntimeServer[] {
  const lines = answer.split('\n');
  const header = lines[0];
  if (header === undefined || !header.startsWith('# ')) throw new Error(`unexpected answer to "show stat": ${answer.slice(0, 200).trim() || '(empty)'}`);
  const columns = header.slice(2).split(',');
  const at = (name: string) => {
    const i = columns.indexOf(name);
    if (i < 0) throw new Error(`"show stat" has no ${name} column`);
    return i;
  };
  const [px, sv, scur, status, addr] = [at('pxname'), at('svname'), at('scur'), at('status'), at('addr')];
  const servers: RuntimeServer[] = [];
  for (let i = 1; i < lines.length; i++) {
    const cells = lines[i]!.split(',');
    const name = cells[sv];
    if (cells[px] !== backend || name === undefined || name === 'BACKEND' || name === 'FRONTEND') continue;
    const address = cells[addr] ?? '';
    const colon = address.lastIndexOf(':');
    const state = cells[status] ?? '';
    servers.push({
      name,
      address: address.slice(0, colon).replace(/^\[(.*)\]$/, '$1'),
      port: Number(address.slice(colon + 1)),
      sessions: Number(cells[scur]) || 0,
      maintenance: state.includes('MAINT') || state.startsWith('DRAIN'),
      status: state,
    });
  }
  return servers;
}

let sample = '';
before(async () => {
  sample = await readFile(SAMPLE, 'utf8');
});

/** The sample with one cell of the first server row changed (the row's n-th cell). */
function withCell(answer: string, row: number, column: string, value: string): string {
  const lines = answer.split('\n');
  const i = lines[0]!.slice(2).split(',').indexOf(column);
  const cells = lines[row]!.split(',');
  cells[i] = value;
  lines[row] = cells.join(',');
  return lines.join('\n');
}

describe('parseServerStats', () => {
  test("HAProxy 3.0's own answer: names, addresses (IPv6 unbracketed), ports, states", () => {
    assert.deepEqual(parseServerStats(sample, 'bk_rtmp'), [
      { name: 'task-0a1b2c3d4e5f60718293a4b5c6d7e8f9', address: '127.0.93.2', port: 19932, sessions: 0, maintenance: true, status: 'DRAIN' },
      { name: 'task-1b2c3d4e5f60718293a4b5c6d7e8f90a', address: '::1', port: 19933, sessions: 0, maintenance: true, status: 'MAINT' },
      { name: 'task-2c3d4e5f60718293a4b5c6d7e8f90a1b', address: '127.0.93.4', port: 19934, sessions: 0, maintenance: false, status: 'DOWN' },
    ]);
  });

  const header = () => sample.split('\n')[0]!;
  const row = (n: number) => sample.split('\n')[n]!;
  const cases: Array<[string, () => string, string]> = [
    ['the sample', () => sample, 'bk_rtmp'],
    ['sessions counted', () => withCell(withCell(sample, 1, 'scur', '1'), 3, 'scur', '17'), 'bk_rtmp'],
    ['an UP server and one in MAINT (via DRAIN)', () => withCell(withCell(sample, 1, 'status', 'UP'), 3, 'status', 'MAINT (via bk_x/y)'), 'bk_rtmp'],
    ['rows of another backend, and the BACKEND and FRONTEND rows, skipped', () => [header(), row(1), row(2).replace(/^bk_rtmp,/, 'bk_peers,'), 'bk_rtmp,BACKEND,0,0,0', 'bk_rtmp,FRONTEND,0', row(3), ''].join('\n'), 'bk_rtmp'],
    ['a backend whose name is a prefix of another', () => [header(), row(1).replace(/^bk_rtmp,/, 'bk_rtmp2,'), row(2), ''].join('\n'), 'bk_rtmp'],
    ['the other backend asked for', () => [header(), row(1), row(2).replace(/^bk_rtmp,/, 'bk_peers,'), ''].join('\n'), 'bk_peers'],
    ['short lines (fewer columns than addr) and empty lines', () => [header(), 'bk_rtmp,task-short,0,0,5', '', 'bk_rtmp', row(3)].join('\n'), 'bk_rtmp'],
    ['no trailing newline', () => [header(), row(1)].join('\n'), 'bk_rtmp'],
    ['the header only (no servers)', () => `${header()}\n\n`, 'bk_rtmp'],
    ['an address without a port, an empty address', () => withCell(withCell(sample, 1, 'addr', '10.0.0.1'), 2, 'addr', ''), 'bk_rtmp'],
    ['UTF-8 in a cell before addr', () => withCell(sample, 1, 'check_desc', 'connexion refusée — ✓'), 'bk_rtmp'],
    ['columns in another order', () => {
      const lines = sample.split('\n').filter((l) => l !== '');
      const table = [lines[0]!.slice(2).split(','), ...lines.slice(1).map((l) => l.split(','))].map((cells) => [...cells].reverse());
      return [`# ${table[0]!.join(',')}`, ...table.slice(1).map((c) => c.join(',')), ''].join('\n');
    }, 'bk_rtmp'],
  ];
  for (const [what, answer, backend] of cases) {
    test(`same servers as splitting every cell: ${what}`, () => {
      const expected = splitEveryCell(answer(), backend);
      assert.deepEqual(parseServerStats(answer(), backend), expected);
      if (what === 'sessions counted') assert.deepEqual(expected.map((s) => s.sessions), [1, 0, 17]);
      if (what.startsWith('rows of another')) assert.equal(expected.length, 2);
    });
  }

  test('an answer that is not `show stat` is an error carrying what HAProxy said', () => {
    assert.throws(() => parseServerStats('No such proxy.\n\n', 'bk_nope'), /unexpected answer to "show stat": No such proxy\.$/);
    assert.throws(() => parseServerStats("Unknown command: 'show'\n  help\n", 'bk_rtmp'), /: Unknown command: 'show'\n {2}help$/);
    assert.throws(() => parseServerStats('', 'bk_rtmp'), /: \(empty\)$/);
    assert.throws(() => parseServerStats(`x${'y'.repeat(300)}\nmore`, 'bk_rtmp'), (e: Error) => e.message.endsWith(`x${'y'.repeat(199)}`));
  });

  test('a header without a needed column is an error', () => {
    assert.throws(() => parseServerStats(sample.replace(',scur,', ',scurx,'), 'bk_rtmp'), /"show stat" has no scur column/);
  });
});

describe('streamed from the socket', () => {
  let dir = '';
  let answer = '';
  /** Bytes per write the fake HAProxy answers with. */
  let chunkSizes: number[] = [];
  const commands: string[] = [];
  let server: net.Server;
  let socket = '';

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'rtmp-proxy-runtime-api-'));
    socket = path.join(dir, 'admin.sock');
    // Half-open: the client ends its side after the command, as it does with HAProxy, and still reads the answer.
    server = net.createServer({ allowHalfOpen: true }, (conn) => {
      let command = '';
      conn.on('error', () => undefined); // a client that gave up (the line handler threw) resets it
      conn.on('data', (d) => {
        command += d;
        if (!command.endsWith('\n')) return;
        commands.push(command.trim());
        const bytes = Buffer.from(answer, 'utf8');
        let at = 0;
        let i = 0;
        const writeNext = () => {
          if (conn.destroyed) return;
          if (at >= bytes.length) return void conn.end();
          const n = chunkSizes.length === 0 ? bytes.length : chunkSizes[i++ % chunkSizes.length]!;
          conn.write(bytes.subarray(at, at + n), () => setImmediate(writeNext));
          at += n;
        };
        writeNext();
      });
    });
    await new Promise<void>((resolve) => server.listen(socket, resolve));
  });
  after(async () => {
    await new Promise((resolve) => server.close(resolve));
    await rm(dir, { recursive: true, force: true });
  });

  // 1 byte at a time splits every line and every UTF-8 character; the others split lines at odd places.
  for (const sizes of [[], [1], [7, 300, 2], [512]]) {
    test(`RuntimeApi.servers: the same as parsing the whole answer (chunks of ${sizes.join(', ') || 'all'} bytes)`, async () => {
      answer = withCell(withCell(sample, 1, 'check_desc', 'refusée ✓'), 3, 'scur', '4');
      chunkSizes = sizes;
      assert.deepEqual(await new RuntimeApi(socket).servers('bk_rtmp'), parseServerStats(answer, 'bk_rtmp'));
      assert.equal(commands.at(-1), 'show stat bk_rtmp 4 -1');
    });
  }

  test('through the master CLI: the worker prefix goes first', async () => {
    answer = sample;
    chunkSizes = [];
    assert.equal((await RuntimeApi.viaMaster(socket, 4242).servers('bk_rtmp')).length, 3);
    assert.equal(commands.at(-1), '@!4242 show stat bk_rtmp 4 -1');
  });

  test("HAProxy's refusal rejects with its text", async () => {
    answer = 'No such proxy.\n\n';
    chunkSizes = [3];
    await assert.rejects(new RuntimeApi(socket).servers('bk_nope'), /unexpected answer to "show stat": No such proxy\.$/);
  });

  test('streamCliCommand: every line once, in order, without the newlines; the last without one too', async () => {
    answer = 'a\n\nbc\ndéf\nlast';
    chunkSizes = [2, 1];
    const lines: string[] = [];
    await streamCliCommand(socket, 'x', (l) => lines.push(l.toString('utf8')));
    assert.deepEqual(lines, ['a', '', 'bc', 'déf', 'last']);
  });

  test("streamCliCommand: an exception from the line handler rejects with it", async () => {
    answer = 'one\ntwo\nthree\n';
    chunkSizes = [4];
    let seen = 0;
    await assert.rejects(
      streamCliCommand(socket, 'x', () => {
        if (++seen === 2) throw new Error('bad line');
      }),
      /bad line/,
    );
    assert.equal(seen, 2);
  });

  test('streamCliCommand: a multi-line command is refused before connecting', async () => {
    await assert.rejects(streamCliCommand(socket, 'show stat\nshutdown', () => undefined), /one line/);
  });
});
