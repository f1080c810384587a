// Which HAProxy versions keep maxconn 1 when a Server comes up with streamers queued: one table.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { maxconnUnderBursts, parseVersion, parseVersionOutput, supportsRuntimeServers } from '../src/haproxy/version.js';

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
