// Which HAProxy versions keep maxconn 1 when a Server comes up with streamers queued: one table; and
// what the daemon says at start-up about the one it runs.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { Writable } from 'node:stream';
import { describe, test } from 'node:test';
import { loadConfig } from '../src/config.js';
import { DEFAULT_HAPROXY_BIN } from '../src/paths.js';
import { startDaemon } from '../src/daemon.js';
import { maxconnUnderBursts, parseVersion, parseVersionOutput, supportsRuntimeServers } from '../src/haproxy/version.js';
import { createLogger } from '../src/log.js';
import { proxyEnv, tempDir } from './helpers/fixtures.js';
import { Cleanup } from './helpers/processes.js';
import { waitFor } from './helpers/wait.js';

describe('HAProxy versions and maxconn under bursts', () => {
  const cases: Array<{ version: string; runtimeServers: boolean; holds: boolean; fixedIn?: string }> = [
    { version: '2.4.22', runtimeServers: false, holds: false, fixedIn: '3.2' },
    { version: '2.6.12-1+deb12u4', runtimeServers: true, holds: false, fixedIn: '2.6.21' },
    { version: '2.6.20', runtimeServers: true, holds: false, fixedIn: '2.6.21' },
    { version: '2.6.21', runtimeServers: true, holds: true },
    { version: '2.7.10', runtimeServers: true, holds: false, fixedIn: '3.2' },
    { version: '2.8.13', runtimeServers: true, holds: false, fixedIn: '2.8.14' },
    { version: '2.8.14', runtimeServers: true, holds: true },
    { version: '2.9.15', runtimeServers: true, holds: false, fixedIn: '3.2' },
    { version: '3.0.7', runtimeServers: true, holds: false, fixedIn: '3.0.8' },
    { version: '3.0.11-9e587df', runtimeServers: true, holds: true },
    { version: '3.1.2', runtimeServers: true, holds: false, fixedIn: '3.1.3' },
    { version: '3.1.3', runtimeServers: true, holds: true },
    { version: '3.2.0', runtimeServers: true, holds: true },
    { version: '3.3-dev4', runtimeServers: true, holds: true },
    { version: '4.0.1', runtimeServers: true, holds: true },
  ];
  for (const c of cases) {
    test(`${c.version}: ${c.holds ? 'keeps' : 'breaks'} maxconn under bursts`, () => {
      const v = parseVersion(c.version);
      assert.ok(v, `parses ${c.version}`);
      assert.equal(supportsRuntimeServers(v), c.runtimeServers);
      const verdict = maxconnUnderBursts(v);
      assert.equal(verdict.holds, c.holds);
      if (!verdict.holds) {
        assert.equal(verdict.fixedIn, c.fixedIn);
        assert.match(verdict.reason, new RegExp(`^HAProxy ${c.version.replace(/[.+]/g, '\\$&')} .*maxconn 1.*111ea83ed`));
      }
    });
  }

  test('the version line of haproxy -v, and text that is not one', () => {
    assert.equal(parseVersionOutput('HAProxy version 3.0.11-9e587df 2025/06/02 - https://haproxy.org/\nStatus: long-term'), '3.0.11-9e587df');
    assert.equal(parseVersionOutput('nginx version: nginx/1.22.1'), undefined);
    assert.equal(parseVersion('dev'), undefined);
  });
});

describe('the daemon says which HAProxy it runs', () => {
  const DEBIAN_HAPROXY = '/usr/sbin/haproxy';
  const PROXY = { address: '127.0.29.1', rtmp: 19395, health: 18095 };

  /** Starts the daemon on `bin`, returns its log lines once the version line is out, then stops it. */
  async function versionLine(bin: string): Promise<Record<string, unknown>> {
    const cleanup = new Cleanup();
    try {
      const dir = await tempDir(cleanup, 'version');
      const lines: Array<Record<string, unknown>> = [];
      const sink = new Writable({
        write(chunk, _enc, done) {
          for (const l of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(l) as Record<string, unknown>);
          done();
        },
      });
      const config = loadConfig({ DISCOVERY: 'static', STATIC_SERVERS: '127.0.29.2:19396', METRICS_PORT: 'off', HAPROXY_BIN: bin, SHUTDOWN_GRACE_SECONDS: '0', ...proxyEnv(dir, PROXY) });
      const daemon = startDaemon(config, createLogger('info', sink as never));
      cleanup.defer('daemon', () => daemon.stop({ stopHaproxy: true }));
      return await waitFor(() => lines.find((l) => l.haproxyVersion !== undefined), { timeoutMs: 10_000, what: 'the haproxy version line' });
    } finally {
      await cleanup.run();
    }
  }

  test("Debian 12's 2.6.12: a warning at start-up, naming the version and the first fixed release", { skip: existsSync(DEBIAN_HAPROXY) ? false : `${DEBIAN_HAPROXY} is not installed` }, async () => {
    const line = await versionLine(DEBIAN_HAPROXY);
    assert.equal(line.level, 40, 'warn');
    assert.match(String(line.haproxyVersion), /^2\.6\./);
    assert.equal(line.fixedIn, '2.6.21');
    assert.match(String(line.msg), /breaking maxconn 1 under bursts/);
  });

  test('the HAProxy the suite runs: an info line, no warning', async () => {
    const line = await versionLine(DEFAULT_HAPROXY_BIN);
    assert.equal(line.level, 30, 'info');
    assert.ok(maxconnUnderBursts(parseVersion(String(line.haproxyVersion))!).holds);
  });
});
