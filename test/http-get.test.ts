// The daemon's HTTP reads (src/http-get.ts) and the line splitter under them, against real HTTP
// servers on loopback: what arrives, and every way a read fails.
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { getStreaming, getText } from '../src/http-get.js';
import { LineSplitter } from '../src/line-splitter.js';

describe('LineSplitter', () => {
  const split = (chunks: string[]) => {
    const lines: string[] = [];
    const splitter = new LineSplitter((line) => lines.push(line.toString('utf8')));
    for (const c of chunks) splitter.push(Buffer.from(c, 'utf8'));
    splitter.end();
    return lines;
  };
  const cases: Array<[string, string[], string[]]> = [
    ['one chunk, lines ended', ['a\nb\n'], ['a', 'b']],
    ['a last line without its newline', ['a\nb'], ['a', 'b']],
    ['a line cut over three chunks', ['ab', 'cd', 'ef\ng\n'], ['abcdef', 'g']],
    ['a newline alone in a chunk', ['a', '\n', 'b', '\n'], ['a', 'b']],
    ['empty lines are lines', ['\n\na\n'], ['', '', 'a']],
    ['nothing', [], []],
  ];
  for (const [name, chunks, expected] of cases) test(name, () => assert.deepEqual(split(chunks), expected));
  test('a character whose bytes arrive in two chunks is whole in its line', () => {
    const bytes = Buffer.from('née\n', 'utf8');
    const lines: string[] = [];
    const splitter = new LineSplitter((line) => lines.push(line.toString('utf8')));
    splitter.push(bytes.subarray(0, 2)); // 'n' and the first byte of 'é'
    splitter.push(bytes.subarray(2));
    splitter.end();
    assert.deepEqual(lines, ['née']);
  });
});

describe('getStreaming / getText over real HTTP', () => {
  let server: http.Server;
  let base = '';
  const hung = new Set<http.ServerResponse>();
  before(async () => {
    server = http.createServer((req, res) => {
      const path = req.url ?? '';
      if (path === '/text') return void res.end('hello, é');
      if (path === '/chunks') {
        // Three writes with pauses: the reader sees the body as it streams, not at the end.
        res.write('one\n');
        setTimeout(() => res.write('two\n'), 20);
        setTimeout(() => res.end('three'), 40);
        return;
      }
      if (path === '/404') return void res.writeHead(404).end('no');
      if (path === '/declared-huge') return void res.writeHead(200, { 'content-length': String(64 * 1024 * 1024) }).end();
      if (path === '/streamed-huge') {
        // No content-length (chunked): refused as the bytes pass the limit.
        res.writeHead(200);
        const block = Buffer.alloc(64 * 1024, 'x');
        let sent = 0;
        const more = () => {
          while (sent < 40 && !res.destroyed && res.write(block)) sent++;
          if (sent < 40 && !res.destroyed) res.once('drain', more);
          else res.end();
        };
        return more();
      }
      if (path === '/silent') return void hung.add(res);
      if (path === '/cut') {
        res.writeHead(200, { 'content-length': '100' });
        res.write('partial');
        setTimeout(() => res.destroy(), 20);
        return;
      }
      res.writeHead(500).end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    for (const res of hung) res.destroy();
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  });
  const limits = { timeoutMs: 2000, maxBytes: 1024 * 1024 };

  test('a body is read whole, as text', async () => {
    assert.equal(await getText(`${base}/text`, limits), 'hello, é');
  });
  test('a body is handed over chunk by chunk as it arrives', async () => {
    const chunks: string[] = [];
    await getStreaming(`${base}/chunks`, limits, (c) => chunks.push(c.toString()));
    assert.equal(chunks.join(''), 'one\ntwo\nthree');
    assert.ok(chunks.length >= 2, `arrived in ${chunks.length} chunk(s)`);
  });
  test('a status other than 2xx is an error naming it', async () => {
    await assert.rejects(getText(`${base}/404`, limits), /^Error: answered 404$/);
  });
  test('an answer over the limit is refused, by its content-length or as it streams', async () => {
    await assert.rejects(getText(`${base}/declared-huge`, limits), /answer of 67108864 bytes \(at most 1048576 read\)/);
    let received = 0;
    await assert.rejects(
      getStreaming(`${base}/streamed-huge`, limits, (c) => void (received += c.length)),
      /answer of over 1048576 bytes/,
    );
    assert.ok(received <= limits.maxBytes, `handed over ${received} bytes, no more than the limit`);
  });
  test('a silent server times out; a cut answer and a refused connection are errors', async () => {
    await assert.rejects(getText(`${base}/silent`, { ...limits, timeoutMs: 200 }), /no answer within 200 ms/);
    await assert.rejects(getText(`${base}/cut`, limits), /aborted|socket hang up|ECONNRESET/);
    await assert.rejects(getText('http://127.0.0.2:1/', limits), /ECONNREFUSED/);
  });
  test("an exception from the reader's callback ends the read with it", async () => {
    await assert.rejects(
      getStreaming(`${base}/chunks`, limits, () => {
        throw new Error('not stats');
      }),
      /not stats/,
    );
  });
  test('only http:// URLs are read', async () => {
    await assert.rejects(getText('https://127.0.0.1/', limits), /only http:\/\/ is read, not https:\/\//);
    await assert.rejects(getText('not a url', limits), /not a URL: not a url/);
  });
});
