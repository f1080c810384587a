// Who holds a port: the /proc tables parsed, and a real listener found with its process.
import assert from 'node:assert/strict';
import net from 'node:net';
import { describe, test } from 'node:test';
import { describeTakenPort, findListener, overlaps, parseListeningSockets } from '../src/haproxy/port-owner.js';

const TCP = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:4B67 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1234 1 0000000000000000 100 0 0 10 0
   1: 0100007F:4B67 0200007F:D2F0 01 00000000:00000000 00:00000000 00000000     0        0 5678 1 0000000000000000 20 4 30 10 -1
   2: 00000000:1F40 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 999 1 0000000000000000 100 0 0 10 0
`;
const TCP6 = `  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000000000000:0050 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4242 1 0000000000000000 100 0 0 10 0
   1: 0000000000000000FFFF00000100007F:0051 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4343 1 0000000000000000 100 0 0 10 0
`;

describe('port owner', () => {
  test('listening sockets of /proc/net/tcp and tcp6, established ones left out', () => {
    assert.deepEqual(parseListeningSockets(TCP), [
      { address: '127.0.0.1', port: 19303, inode: '1234' },
      { address: '0.0.0.0', port: 8000, inode: '999' },
    ]);
    assert.deepEqual(parseListeningSockets(TCP6), [
      { address: '::', port: 80, inode: '4242' },
      { address: '::ffff:127.0.0.1', port: 81, inode: '4343' },
    ]);
    assert.deepEqual(parseListeningSockets(''), []);
  });

  test('which listeners take connections meant for an address', () => {
    assert.ok(overlaps('127.0.0.1', '127.0.0.1'));
    assert.ok(overlaps('127.0.0.1', '0.0.0.0'), 'a wildcard listener');
    assert.ok(overlaps('0.0.0.0', '127.0.0.9'), 'we bind everything');
    assert.ok(overlaps('127.0.0.1', '::ffff:127.0.0.1'));
    assert.ok(!overlaps('127.0.0.1', '127.0.0.2'));
    // IPv6 as the kernel table spells it (uncompressed) against a bind address as a user writes it.
    assert.ok(overlaps('::1', '0:0:0:0:0:0:0:1'));
    assert.ok(overlaps('fd00::A', 'fd00:0:0:0:0:0:0:a'));
    assert.ok(overlaps('0:0::0', '127.0.0.1'), 'an IPv6 wildcard however written');
    assert.ok(!overlaps('::1', '0:0:0:0:0:0:0:2'));
  });

  test('a real listener is found with this process as its owner; a free port is not', async () => {
    const server = net.createServer();
    await new Promise<void>((r) => server.listen(19398, '127.0.26.9', () => r()));
    try {
      const found = await findListener('127.0.26.9', 19398);
      assert.ok(found, 'found');
      assert.equal(found.pid, process.pid);
      assert.match(found.command ?? '', /node/);
      const message = describeTakenPort('RTMP_PORT', '127.0.26.9', found);
      assert.match(message, new RegExp(`^RTMP_PORT=19398 on 127\\.0\\.26\\.9 is already in use by pid ${process.pid} \\(.*node.*\\), listening on 127\\.0\\.26\\.9:19398: .*SO_REUSEPORT`));
      assert.equal(await findListener('127.0.26.10', 19398), undefined, 'another address');
    } finally {
      await new Promise((r) => server.close(r));
    }
    assert.equal(await findListener('127.0.26.9', 19398), undefined, 'closed');
  });
});
