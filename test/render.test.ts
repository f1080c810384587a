import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, test } from 'node:test';
import { PACKAGE_ROOT } from '../src/paths.js';
import type { RenderedServer } from '../src/model.js';
import { compileTemplate, limitsFor, renderConfig, TemplateError, type RenderSettings } from '../src/render/render.js';

const TEMPLATE_PATH = path.join(PACKAGE_ROOT, 'templates', 'haproxy.cfg.ejs');
const GOLDEN = path.join(PACKAGE_ROOT, 'test', 'fixtures', 'haproxy.cfg.golden');

const settings: RenderSettings = {
  bindAddress: '0.0.0.0',
  rtmpPort: 1935,
  healthPort: 8000,
  pidfile: '/var/run/rtmp-proxy/haproxy.pid',
  adminSocket: '/var/run/rtmp-proxy/admin.sock',
  healthPage: '/app/templates/healthcheck.html',
  healthMap: '/var/run/rtmp-proxy/health.map',
  requireCapacity: true,
  serverOptions: 'check maxconn 1 weight 10',
};

const fleet: RenderedServer[] = [
  { name: 'task-b3c4', address: '10.0.1.12', port: 1935, draining: false },
  { name: 'task-a1f2', address: '10.0.0.11', port: 1935, draining: false },
  { name: 'task-c9d0', address: 'fd00::7', port: 1936, draining: true },
];

async function template() {
  return compileTemplate(await readFile(TEMPLATE_PATH, 'utf8'), 'templates/haproxy.cfg.ejs');
}

describe('renderConfig', () => {
  test('matches the golden file', async () => {
    const text = renderConfig(await template(), 'templates/haproxy.cfg.ejs', settings, fleet);
    if (process.env.UPDATE_GOLDEN === '1') await writeFile(GOLDEN, text);
    assert.equal(text, await readFile(GOLDEN, 'utf8'));
  });

  test('the same fleet in any order renders the same bytes', async () => {
    const t = await template();
    const a = renderConfig(t, 'x', settings, fleet);
    const b = renderConfig(t, 'x', settings, [...fleet].reverse());
    assert.equal(a, b);
  });

  test('one server line per Server, named by task, with maxconn 1; drained ones disabled', async () => {
    const text = renderConfig(await template(), 'x', settings, fleet);
    const lines = text.split('\n').filter((l) => l.trim().startsWith('server '));
    assert.deepEqual(lines.map((l) => l.trim()), [
      'server task-a1f2 10.0.0.11:1935 check maxconn 1 weight 10',
      'server task-b3c4 10.0.1.12:1935 check maxconn 1 weight 10',
      'server task-c9d0 [fd00::7]:1936 check maxconn 1 weight 10 disabled',
    ]);
  });

  test('limits grow with the fleet in steps and keep room for the health frontend', async () => {
    const t = await template();
    const servers = Array.from({ length: 3000 }, (_, i) => ({ name: `task-${i}`, address: `10.0.${i >> 8}.${i & 255}`, port: 1935, draining: false }));
    const text = renderConfig(t, 'x', settings, servers);
    const limits = limitsFor(3000);
    assert.equal(limits.rtmpMaxconn, 8192, 'the power of two at or above twice the fleet');
    assert.ok(limits.globalMaxconn >= limits.rtmpMaxconn + limits.healthMaxconn);
    assert.match(text, new RegExp(`^global\n(?:.*\n)*?  maxconn ${limits.globalMaxconn}\n`, 'm'));
    assert.match(text, /^frontend ft_rtmp\n(?:.*\n)*?  maxconn 8192\n/m);
    // A step, not a slope: membership changes within a step render the same limits (no reload).
    assert.deepEqual([0, 1, 2048].map((n) => limitsFor(n).rtmpMaxconn), [4096, 4096, 4096], 'room for connections waiting out the handshake gate');
    assert.deepEqual([2049, 4096, 4097].map((n) => limitsFor(n).rtmpMaxconn), [8192, 8192, 16384]);
  });

  test('refuses names and addresses that could inject config', async () => {
    const t = await template();
    const bad: RenderedServer[] = [
      { name: 'task-x\n  server evil', address: '10.0.0.1', port: 1935, draining: false },
      { name: 'task-x', address: '10.0.0.1 backup', port: 1935, draining: false },
      { name: 'task-x', address: 'media.example.com', port: 1935, draining: false },
      { name: 'task-x', address: '10.0.0.1', port: 0, draining: false },
    ];
    for (const s of bad) assert.throws(() => renderConfig(t, 'x', settings, [s]), /refusing to render/);
  });

  test('a broken template names its file and line', () => {
    assert.throws(
      () => compileTemplate('global\n<% if (x) { %>\n', '/etc/custom.ejs'),
      (e: unknown) => e instanceof TemplateError && /\/etc\/custom\.ejs/.test(e.message),
    );
    const t = compileTemplate('global\n\n<%= servers.nope.length %>\n', '/etc/custom.ejs');
    assert.throws(
      () => renderConfig(t, '/etc/custom.ejs', settings, fleet),
      (e: unknown) => e instanceof TemplateError && /\/etc\/custom\.ejs:3/.test(e.message),
    );
  });

  test('a custom template sees templatePath, servers, peers, settings and hostPort, by name and as locals', () => {
    const text = [
      '# <%= templatePath %> <%= locals.servers.length %>',
      '<% servers.forEach(function (s) { -%>',
      'server <%= s.name %> <%= hostPort(s.address, s.port) %> <%= settings.serverOptions %> <%= settings.rtmpMaxconn %>',
      '<% }); -%>',
      'peers <%= peers.length %> <%= typeof notALocal %>',
      '',
    ].join('\n');
    const rendered = renderConfig(compileTemplate(text, '/etc/custom.ejs'), '/etc/custom.ejs', settings, fleet);
    assert.equal(
      rendered,
      [
        '# /etc/custom.ejs 3',
        'server task-a1f2 10.0.0.11:1935 check maxconn 1 weight 10 4096',
        'server task-b3c4 10.0.1.12:1935 check maxconn 1 weight 10 4096',
        'server task-c9d0 [fd00::7]:1936 check maxconn 1 weight 10 4096',
        'peers 0 undefined',
        '',
      ].join('\n'),
    );
  });
});
