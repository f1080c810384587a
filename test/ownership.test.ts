// Ownership across Proxies (src/core/ownership.ts): rendezvous hashing, the holds it puts on the
// fleet, settling claims, which peers are asked; and reading a peer's HAProxy stats.
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, test } from 'node:test';
import { forgetSettledPeers, GONE_PEER_MS, ownerOf, ownershipHolds, peerServers, peersToAsk, settleClaims, type PeerAnswer } from '../src/core/ownership.js';
import { pino } from 'pino';
import { createProxyDiscovery, readOwnTaskArn, takenInPeerStats } from '../src/discovery/proxies.js';
import type { Server } from '../src/model.js';

const arn = (n: number) => `arn:aws:ecs:us-east-1:123456789012:task/proxies/${String(n).padStart(32, '0')}`;
const servers: Server[] = Array.from({ length: 600 }, (_, i) => ({ name: `task-${i}`, address: `10.0.${i >> 8}.${i & 255}`, port: 1935 }));

describe('ownerOf: rendezvous hashing', () => {
  test('every Server has exactly one owner, the same whatever order the Proxies are listed in', () => {
    const proxies = [arn(1), arn(2), arn(3)];
    for (const s of servers) assert.equal(ownerOf(s.name, proxies), ownerOf(s.name, [...proxies].reverse()));
  });
  test('the shares are even: 3 Proxies each own a third of 600 Servers, give or take', () => {
    const counts = new Map<string, number>();
    for (const s of servers) counts.set(ownerOf(s.name, [arn(1), arn(2), arn(3)])!, (counts.get(ownerOf(s.name, [arn(1), arn(2), arn(3)])!) ?? 0) + 1);
    assert.equal(counts.size, 3);
    for (const n of counts.values()) assert.ok(n > 150 && n < 250, `a share of ${n}`);
  });
  test('a Proxy joining takes only Servers for itself; one leaving gives away only its own', () => {
    const before = [arn(1), arn(2), arn(3)];
    const after = [...before, arn(4)];
    let moved = 0;
    for (const s of servers) {
      const a = ownerOf(s.name, before);
      const b = ownerOf(s.name, after);
      if (a !== b) {
        moved++;
        assert.equal(b, arn(4), 'a Server moves only to the new Proxy');
      }
      assert.equal(ownerOf(s.name, before.filter((p) => p !== arn(2))) === a, a !== arn(2), 'only the leaving Proxy\'s Servers move');
    }
    assert.ok(moved > 100 && moved < 200, `${moved} of 600 moved to the 4th Proxy`);
  });
  test('no Proxy, no owner', () => assert.equal(ownerOf('task-1', []), undefined));
});

describe('ownershipHolds', () => {
  const fleet = servers.slice(0, 12);
  const proxies = [arn(1), arn(2)];
  const mine = fleet.filter((s) => ownerOf(s.name, proxies) === arn(1));
  const theirs = fleet.filter((s) => ownerOf(s.name, proxies) === arn(2));
  const answered = (taken: string[] = []): PeerAnswer => ({ taskArn: arn(2), live: true, taken: new Set(taken) });
  const cases: Array<{ description: string; routedHere: string[]; view: Parameters<typeof ownershipHolds>[2]; expect: (name: string) => string | undefined }> = [
    {
      description: "a peer's Servers are held; ours are free to take when the peer holds none of them",
      routedHere: [],
      view: { self: arn(1), proxies, peers: [answered()] },
      expect: (n) => (theirs.some((s) => s.name === n) ? 'owned-by-peer' : undefined),
    },
    {
      description: 'one of ours the peer still routes to (or streams on): handoff',
      routedHere: [],
      view: { self: arn(1), proxies, peers: [answered([mine[0]!.name])] },
      expect: (n) => (theirs.some((s) => s.name === n) ? 'owned-by-peer' : n === mine[0]!.name ? 'handoff' : undefined),
    },
    {
      description: 'a live peer that does not answer: ours stay where routed here already, nothing new is taken',
      routedHere: [mine[0]!.name],
      view: { self: arn(1), proxies, peers: [{ taskArn: arn(2), live: true }] },
      expect: (n) => (theirs.some((s) => s.name === n) ? 'owned-by-peer' : n === mine[0]!.name ? undefined : 'handoff'),
    },
    {
      description: 'a gone peer that does not answer blocks nothing (its HAProxy went with its task; the busy check guards its streams)',
      routedHere: [],
      view: { self: arn(1), proxies: [arn(1)], peers: [{ taskArn: arn(2), live: false }] },
      expect: () => undefined,
    },
    {
      description: 'this Proxy does not know itself: keeps what it routes to, takes nothing',
      routedHere: [fleet[0]!.name],
      view: { self: undefined, proxies, peers: [answered()] },
      expect: (n) => (n === fleet[0]!.name ? undefined : 'handoff'),
    },
    {
      description: 'the Proxy list could not be read: the same',
      routedHere: [fleet[1]!.name],
      view: { self: arn(1), proxies: undefined, peers: [answered()] },
      expect: (n) => (n === fleet[1]!.name ? undefined : 'handoff'),
    },
    {
      description: 'not in the list itself yet (ECS has not listed this task RUNNING): the same',
      routedHere: [],
      view: { self: arn(3), proxies, peers: [answered()] },
      expect: () => 'handoff',
    },
  ];
  for (const c of cases) {
    test(c.description, () => {
      const holds = ownershipHolds(fleet, new Set(c.routedHere), c.view);
      for (const s of fleet) assert.equal(holds.get(s.name), c.expect(s.name), s.name);
    });
  }
});

describe('settleClaims', () => {
  test('a claim no peer holds is enabled; one a peer holds is released', () => {
    assert.deepEqual(settleClaims(['a', 'b'], [{ taskArn: arn(2), live: true, taken: new Set(['b']) }]), { enable: ['a'], release: ['b'] });
  });
  test('a live peer that did not answer: every claim released', () => {
    assert.deepEqual(settleClaims(['a', 'b'], [{ taskArn: arn(2), live: true }, { taskArn: arn(3), live: true, taken: new Set() }]), { enable: [], release: ['a', 'b'] });
  });
  test('two Proxies claiming the same Server: each sees the other, neither enables it', () => {
    const p1 = settleClaims(['s'], [{ taskArn: arn(2), live: true, taken: new Set(['s']) }]);
    const p2 = settleClaims(['s'], [{ taskArn: arn(1), live: true, taken: new Set(['s']) }]);
    assert.deepEqual([p1.enable, p2.enable], [[], []]);
  });
});

describe('peers to ask', () => {
  const live = [
    { taskArn: arn(1), address: '10.1.0.1' },
    { taskArn: arn(2), address: '10.1.0.2' },
  ];
  test('the live ones but this Proxy; a gone one is still asked for a while, as not live', () => {
    const first = peersToAsk(new Map(), live, arn(1), 0);
    assert.deepEqual(first.ask, [{ taskArn: arn(2), address: '10.1.0.2', live: true }]);
    const later = peersToAsk(first.known, [live[0]!], arn(1), 1000);
    assert.deepEqual(later.ask, [{ taskArn: arn(2), address: '10.1.0.2', live: false }]);
    assert.deepEqual(peersToAsk(first.known, [live[0]!], arn(1), GONE_PEER_MS).ask, [], 'forgotten after GONE_PEER_MS');
  });
  test('a gone peer that routes to nothing, or does not answer, is forgotten', () => {
    const known = peersToAsk(new Map(), live, arn(1), 0).known;
    assert.equal(forgetSettledPeers(known, [{ taskArn: arn(2), live: false, taken: new Set() }]).size, 0);
    assert.equal(forgetSettledPeers(known, [{ taskArn: arn(2), live: false }]).size, 0);
    assert.equal(forgetSettledPeers(known, [{ taskArn: arn(2), live: false, taken: new Set(['s']) }]).size, 1, 'still streaming: asked again');
  });
  test('ECS not readable: everyone remembered is asked, as live', () => {
    const known = peersToAsk(new Map(), live, arn(1), 0).known;
    assert.deepEqual(peersToAsk(known, undefined, arn(1), 5).ask, [{ taskArn: arn(2), address: '10.1.0.2', live: true }]);
  });
  test('the peers as bk_peers servers', () => {
    assert.deepEqual(peerServers(live, arn(1), 1936), [{ name: `peer-${String(2).padStart(32, '0')}`, address: '10.1.0.2', port: 1936, taskArn: arn(2) }]);
  });
});

describe("a peer's stats", () => {
  test('taken: routed to, claimed (drain), down, or streaming while in maintenance; not idle maintenance', () => {
    // The stats page's CSV (its `addr` column is empty without `stats show-legends`).
    const csv = [
      '# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status,weight,addr',
      'bk_rtmp,a,0,0,0,0,1,0,0,0,,0,,0,0,0,0,UP,10,',
      'bk_rtmp,b,0,0,0,0,1,0,0,0,,0,,0,0,0,0,DRAIN,10,',
      'bk_rtmp,c,0,0,0,0,1,0,0,0,,0,,0,0,0,0,MAINT,10,',
      'bk_rtmp,d,0,0,1,1,1,1,0,0,,0,,0,0,0,0,MAINT,10,',
      'bk_rtmp,e,0,0,0,0,1,0,0,0,,0,,0,0,0,0,DOWN,10,',
      'bk_rtmp,f,0,0,0,0,1,0,0,0,,0,,0,0,0,0,MAINT (resolution),10,',
      'bk_rtmp,BACKEND,0,0,1,1,1,1,0,0,,0,,0,0,0,0,UP,40,',
      'bk_peers,x,0,0,0,0,,0,0,0,,0,,0,0,0,0,UP,10,',
    ].join('\n');
    assert.deepEqual([...takenInPeerStats(csv)].sort(), ['a', 'b', 'd', 'e']);
  });
  test('an answer that is not HAProxy stats is refused', () => {
    assert.throws(() => takenInPeerStats('<html>hello</html>'), /unexpected answer/);
  });
});

describe('this Proxy\'s task ARN from the ECS task metadata endpoint', () => {
  const serve = async (handler: http.RequestListener) => {
    const server = http.createServer(handler);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const { port } = server.address() as AddressInfo;
    return { uri: `http://127.0.0.1:${port}/v4/abc`, close: () => new Promise<void>((r) => server.close(() => r())) };
  };
  test('reads TaskARN from <uri>/task', async () => {
    const arnText = arn(7);
    const s = await serve((req, res) => res.end(req.url === '/v4/abc/task' ? JSON.stringify({ TaskARN: arnText, Cluster: 'c' }) : '{}'));
    try {
      assert.equal(await readOwnTaskArn(s.uri), arnText);
    } finally {
      await s.close();
    }
  });
  test('a missing, hostile or slow answer is a clear error', async () => {
    const s = await serve((req, res) => {
      if (req.url?.endsWith('/task')) {
        if (s2.mode === 'slow') return void setTimeout(() => res.end('{}'), 1000);
        if (s2.mode === '404') return void res.writeHead(404).end();
        return void res.end(JSON.stringify({ TaskARN: 'arn:aws:ecs:x\nserver evil 6.6.6.6:1' }));
      }
    });
    const s2 = { mode: '' };
    try {
      s2.mode = '404';
      await assert.rejects(readOwnTaskArn(s.uri), /answered 404/);
      s2.mode = 'hostile';
      await assert.rejects(readOwnTaskArn(s.uri), /gave no task ARN/);
      s2.mode = 'slow';
      await assert.rejects(readOwnTaskArn(s.uri, 200), /no answer within 200 ms/);
    } finally {
      await s.close();
    }
  });
});

describe("reading the peers' HAProxy stats", () => {
  test('a hostile, malformed or silent peer counts as not answering, said once; a good answer is read', async () => {
    const lines: Array<{ level: number; msg: string }> = [];
    const logger = pino({ level: 'debug' }, { write: (l: string) => void lines.push(JSON.parse(l) as { level: number; msg: string }) });
    let mode = 'garbage';
    const stats = '# pxname,svname,scur,status,addr\nbk_rtmp,task-a,0,UP,\nbk_rtmp,task-b,0,MAINT,\nbk_rtmp,BACKEND,0,UP,\n';
    const server = http.createServer((req, res) => {
      if (req.url !== '/stats;csv') return void res.writeHead(404).end();
      if (mode === 'garbage') return void res.end('<html>not stats</html>');
      if (mode === 'huge') return void res.writeHead(200, { 'content-length': String(64 * 1024 * 1024) }).end();
      res.end(stats);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const { port } = server.address() as AddressInfo;
    try {
      const discovery = createProxyDiscovery({ peering: { cluster: 'media', service: 'p', peerPort: 1936, peerApiPort: port }, logger });
      const peer = { taskArn: arn(2), address: '127.0.0.1', live: true };
      assert.deepEqual(await discovery.readPeers([peer]), [{ taskArn: arn(2), live: true }]);
      mode = 'huge';
      assert.deepEqual(await discovery.readPeers([peer]), [{ taskArn: arn(2), live: true }]);
      assert.equal(lines.filter((l) => /peer Proxy did not answer/.test(l.msg)).length, 1, 'said once, not at every sync');
      mode = 'good';
      const [answer] = await discovery.readPeers([peer]);
      assert.deepEqual([...answer!.taken!], ['task-a']);
      assert.ok(lines.some((l) => /peer Proxy answers again/.test(l.msg)));
      const unreachable = await discovery.readPeers([{ taskArn: arn(3), address: '127.0.0.1', live: false }].map((p) => ({ ...p, address: '127.0.0.2' })));
      assert.equal(unreachable[0]!.taken, undefined, 'nothing listening: not answering');
    } finally {
      await new Promise<void>((r) => server.close(() => r()));
    }
  });
});
