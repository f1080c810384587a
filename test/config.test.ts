import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { ConfigErrors, loadConfig } from '../src/config.js';
import { PACKAGE_ROOT } from '../src/paths.js';
import { parseStaticServers } from '../src/discovery/static.js';

const base = { ECS_CLUSTER: 'media' };

function errorsOf(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
  } catch (e) {
    assert.ok(e instanceof ConfigErrors, `expected ConfigErrors, got ${String(e)}`);
    return e.errors.map((x) => x.message);
  }
  assert.fail('expected loadConfig to throw');
}

describe('loadConfig', () => {
  test('defaults match the documented contract', () => {
    const c = loadConfig(base);
    assert.equal(c.discovery, 'ecs');
    assert.equal(c.ecsCluster, 'media');
    assert.equal(c.ecsService, undefined);
    assert.equal(c.serverPort, 1935);
    assert.equal(c.serverAddress, 'private');
    assert.equal(c.syncSchedule, '*/10 * * * * *');
    assert.equal(c.applyMode, 'runtime');
    assert.equal(c.bindAddress, '0.0.0.0');
    assert.equal(c.rtmpPort, 1935);
    assert.equal(c.healthPort, 8000);
    // A checkout runs the HAProxy `npm test` built (.deps/bin/haproxy); the image, `haproxy` on PATH.
    assert.equal(c.haproxyBin, existsSync(path.join(PACKAGE_ROOT, '.deps/bin/haproxy')) ? path.join(PACKAGE_ROOT, '.deps/bin/haproxy') : 'haproxy');
    assert.equal(c.haproxyConfig, '/usr/local/etc/haproxy/haproxy.cfg');
    assert.equal(c.logLevel, 'info');
    assert.equal(c.shutdownGraceSeconds, 110);
    assert.equal(c.serverRequireHealthy, false);
    assert.match(c.haproxyTemplate, /templates\/haproxy\.cfg\.ejs$/);
  });

  test('drain timeout and busy check: off by default, read when set', () => {
    const off = loadConfig(base);
    assert.equal(off.serverDrainTimeoutSeconds, undefined);
    assert.equal(off.busyCheck, undefined);
    const on = loadConfig({ ...base, SERVER_DRAIN_TIMEOUT: '300', BUSY_CHECK_PORT: '8080' });
    assert.equal(on.serverDrainTimeoutSeconds, 300);
    assert.deepEqual(on.busyCheck, { port: 8080, path: '/stat', pattern: '<publishing/>' });
    assert.equal(loadConfig({ ...base, SERVER_DRAIN_TIMEOUT: 'unlimited' }).serverDrainTimeoutSeconds, undefined);
  });

  test('reads every variable', () => {
    const c = loadConfig({
      DISCOVERY: 'static',
      STATIC_SERVERS: '10.0.0.1:1935, 10.0.0.2, [fd00::5]:1936',
      SERVER_PORT: '1940',
      SYNC_SCHEDULE: '*/5 * * * * *',
      APPLY_MODE: 'reload',
      BIND_ADDRESS: '::',
      RTMP_PORT: '19350',
      HEALTH_PORT: '18000',
      HAPROXY_BIN: '/usr/sbin/haproxy',
      HAPROXY_CONFIG: '/tmp/x/haproxy.cfg',
      HAPROXY_PIDFILE: '/tmp/x/pid',
      HAPROXY_SOCKET: '/tmp/x/admin.sock',
      HAPROXY_TEMPLATE: '/tmp/x/t.ejs',
      LOG_LEVEL: 'debug',
      SHUTDOWN_GRACE_SECONDS: '5',
    });
    assert.deepEqual(c.staticServers, [
      { address: '10.0.0.1', port: 1935 },
      { address: '10.0.0.2', port: 1940 },
      { address: 'fd00::5', port: 1936 },
    ]);
    assert.equal(c.applyMode, 'reload');
    assert.equal(c.bindAddress, '::');
    assert.equal(c.rtmpPort, 19350);
    assert.equal(c.haproxyMasterSocket, '/tmp/x/admin.sock.master');
    assert.equal(c.shutdownGraceSeconds, 5);
  });

  test('a bad value names the variable, the value and what is allowed', () => {
    const cases: Array<[Record<string, string>, RegExp]> = [
      [{ ...base, DISCOVERY: 'consul' }, /^DISCOVERY="consul" is not valid: one of ecs, static$/],
      [{}, /^ECS_CLUSTER="" is not valid: required when DISCOVERY=ecs/],
      [{ ...base, SERVER_PORT: '70000' }, /^SERVER_PORT="70000" is not valid: a TCP port, an integer from 1 to 65535$/],
      [{ ...base, RTMP_PORT: '19x' }, /^RTMP_PORT="19x" is not valid/],
      [{ ...base, HEALTH_PORT: '1935' }, /^HEALTH_PORT="1935" is not valid: a port different from RTMP_PORT/],
      [{ ...base, SERVER_ADDRESS: 'elastic' }, /^SERVER_ADDRESS="elastic" is not valid: one of private, public$/],
      [{ ...base, SYNC_SCHEDULE: 'every 10s' }, /^SYNC_SCHEDULE="every 10s" is not valid: a node-cron expression/],
      [{ ...base, APPLY_MODE: 'yolo' }, /^APPLY_MODE="yolo" is not valid: one of runtime, reload$/],
      [{ ...base, BIND_ADDRESS: 'localhost' }, /^BIND_ADDRESS="localhost" is not valid: an IPv4 or IPv6 address/],
      [{ ...base, HAPROXY_CONFIG: '/tmp/a b.cfg' }, /^HAPROXY_CONFIG="\/tmp\/a b.cfg" is not valid: a file path without whitespace/],
      [{ ...base, LOG_LEVEL: 'loud' }, /^LOG_LEVEL="loud" is not valid: one of fatal, error, warn, info, debug, trace, silent$/],
      [{ DISCOVERY: 'static' }, /^STATIC_SERVERS="" is not valid: required when DISCOVERY=static/],
      [{ DISCOVERY: 'static', STATIC_SERVERS: 'media-1:1935' }, /^STATIC_SERVERS="media-1:1935" is not valid: "media-1:1935": the host must be an IPv4 or IPv6 literal/],
      [{ ...base, SERVER_DRAIN_TIMEOUT: 'forever' }, /^SERVER_DRAIN_TIMEOUT="forever" is not valid: whole seconds from 0 to 604800, or "unlimited"/],
      [{ ...base, BUSY_CHECK_PORT: 'stat' }, /^BUSY_CHECK_PORT="stat" is not valid: a TCP port/],
      [{ ...base, BUSY_CHECK_PORT: '8080', BUSY_CHECK_PATH: 'stat page' }, /^BUSY_CHECK_PATH="stat page" is not valid: a URL path starting with \//],
      [{ ...base, SHUTDOWN_GRACE_SECONDS: '-1' }, /^SHUTDOWN_GRACE_SECONDS="-1" is not valid: whole seconds from 0 to 604800/],
      [{ ...base, SERVER_REQUIRE_HEALTHY: 'yes' }, /^SERVER_REQUIRE_HEALTHY="yes" is not valid: one of true, false$/],
      [{ DISCOVERY: 'static', STATIC_SERVERS: '10.0.0.1', SERVER_REQUIRE_HEALTHY: 'true' }, /^SERVER_REQUIRE_HEALTHY="true" is not valid: only with DISCOVERY=ecs/],
    ];
    for (const [env, expected] of cases) {
      const errors = errorsOf(env);
      assert.equal(errors.length, 1, `${JSON.stringify(env)} gave ${JSON.stringify(errors)}`);
      assert.match(errors[0]!, expected);
    }
  });

  test('reports every bad variable at once', () => {
    const errors = errorsOf({ DISCOVERY: 'ecs', RTMP_PORT: '0', LOG_LEVEL: 'x' });
    assert.deepEqual(
      errors.map((m) => m.split('=')[0]),
      ['ECS_CLUSTER', 'RTMP_PORT', 'LOG_LEVEL'],
    );
  });
});

describe('several Proxies (PROXY_SERVICE)', () => {
  test('off by default; on with the Proxies\' service, its cluster defaulting to ECS_CLUSTER, and the peer ports', () => {
    assert.equal(loadConfig(base).peering, undefined);
    assert.deepEqual(loadConfig({ ...base, PROXY_SERVICE: 'rtmp-proxy' }).peering, { cluster: 'media', service: 'rtmp-proxy', peerPort: 1936, peerApiPort: 8001 });
    const arn = 'arn:aws:ecs:us-east-1:123456789012:task/proxies/abc';
    assert.deepEqual(
      loadConfig({ ...base, PROXY_SERVICE: 'p', PROXY_CLUSTER: 'edge', PROXY_TASK_ARN: arn, PEER_PORT: '2936', PEER_API_PORT: '9001', ECS_CONTAINER_METADATA_URI_V4: 'http://169.254.170.2/v4/x' }).peering,
      { cluster: 'edge', service: 'p', taskArn: arn, metadataUri: 'http://169.254.170.2/v4/x', peerPort: 2936, peerApiPort: 9001 },
    );
  });
  test('bad combinations name the variable', () => {
    assert.deepEqual(errorsOf({ ...base, PROXY_SERVICE: 'p', APPLY_MODE: 'reload' }), ['APPLY_MODE="reload" is not valid: runtime when PROXY_SERVICE is set: ownership changes go through the Runtime API']);
    assert.deepEqual(errorsOf({ DISCOVERY: 'static', STATIC_SERVERS: '10.0.0.1', PROXY_SERVICE: 'p' }), [
      'PROXY_CLUSTER="" is not valid: required with PROXY_SERVICE when ECS_CLUSTER is not set: the Proxies\' cluster',
    ]);
    assert.deepEqual(errorsOf({ ...base, PROXY_SERVICE: 'p', PEER_PORT: '1935' }), ['PEER_PORT="1935" is not valid: a port different from RTMP_PORT']);
    assert.deepEqual(errorsOf({ ...base, PROXY_SERVICE: 'p', PEER_API_PORT: '1936' }), ['PEER_API_PORT="1936" is not valid: a port different from PEER_PORT']);
    assert.deepEqual(errorsOf({ ...base, PEER_PORT: 'x' }), ['PEER_PORT="x" is not valid: a TCP port, an integer from 1 to 65535']);
  });
});

describe('parseStaticServers', () => {
  test('rejects what must never reach a config file', () => {
    for (const bad of ['10.0.0.1:1935\nserver evil 1.2.3.4:1', '10.0.0.1 #', '10.0.0.1:', '10.0.0.1:0', '[::1]:99999', 'x'.repeat(300), ' , ']) {
      assert.throws(() => parseStaticServers(bad, 1935), Error, JSON.stringify(bad));
    }
  });
  test('takes IPv4, bracketed and bare IPv6, and the default port', () => {
    assert.deepEqual(parseStaticServers('127.0.0.2,::1,[::2]:19', 1935), [
      { address: '127.0.0.2', port: 1935 },
      { address: '::1', port: 1935 },
      { address: '::2', port: 19 },
    ]);
  });
});

describe('ECS task events (EVENTS_TOPIC_ARN, EVENTS_QUEUE_URL)', () => {
  const topic = 'arn:aws:sns:eu-west-1:123456789012:rtmp-proxy-service-server-events';
  const queue = 'https://sqs.eu-west-1.amazonaws.com/123456789012/rtmp-proxy-events';
  const metadata = 'http://169.254.170.2/v4/x';

  test('off by default; a topic gives this Proxy a queue named after the service, the full listing every 5 minutes', () => {
    assert.equal(loadConfig(base).events, undefined);
    assert.deepEqual(loadConfig({ ...base, EVENTS_TOPIC_ARN: topic, ECS_CONTAINER_METADATA_URI_V4: metadata }).events, {
      topicArn: topic,
      queuePrefix: 'rtmp-proxy-events-',
      fullSyncIntervalSeconds: 300,
      metadataUri: metadata,
    });
    assert.equal(loadConfig({ ...base, EVENTS_TOPIC_ARN: topic, PROXY_TASK_ARN: 'arn:aws:ecs:eu-west-1:123456789012:task/p/abc', PROXY_SERVICE: 'edge' }).events?.queuePrefix, 'edge-events-');
    assert.deepEqual(loadConfig({ ...base, EVENTS_QUEUE_URL: queue, FULL_SYNC_INTERVAL: '60' }).events, { queueUrl: queue, queuePrefix: 'rtmp-proxy-events-', fullSyncIntervalSeconds: 60 });
  });

  test('a bad value names the variable, the value and what is allowed', () => {
    const cases: Array<[Record<string, string>, RegExp]> = [
      [{ ...base, EVENTS_TOPIC_ARN: topic, EVENTS_QUEUE_URL: queue, PROXY_TASK_ARN: 'x' }, /^EVENTS_QUEUE_URL=".*" is not valid: unset when EVENTS_TOPIC_ARN is set/],
      [{ ...base, EVENTS_TOPIC_ARN: 'rtmp-events', PROXY_TASK_ARN: 'x' }, /^EVENTS_TOPIC_ARN="rtmp-events" is not valid: an SNS topic ARN/],
      [{ ...base, EVENTS_QUEUE_URL: 'rtmp-events' }, /^EVENTS_QUEUE_URL="rtmp-events" is not valid: an SQS queue URL/],
      [{ ...base, EVENTS_TOPIC_ARN: topic }, /^EVENTS_TOPIC_ARN=".*" is not valid: set with this Proxy's task known/],
      [{ ...base, EVENTS_QUEUE_URL: queue, EVENTS_QUEUE_PREFIX: 'a'.repeat(49) }, /^EVENTS_QUEUE_PREFIX="a{49}" is not valid: 1 to 48 letters/],
      [{ ...base, EVENTS_QUEUE_URL: queue, FULL_SYNC_INTERVAL: '5' }, /^FULL_SYNC_INTERVAL="5" is not valid: whole seconds from 10 to 86400/],
      [{ DISCOVERY: 'static', STATIC_SERVERS: '10.0.0.1:1935', EVENTS_QUEUE_URL: queue }, /^EVENTS_QUEUE_URL=".*" is not valid: only with DISCOVERY=ecs/],
    ];
    for (const [env, expected] of cases) {
      const errors = errorsOf(env);
      assert.equal(errors.length, 1, `${JSON.stringify(env)} gave ${JSON.stringify(errors)}`);
      assert.match(errors[0]!, expected);
    }
  });
});

describe('capacity metrics (CAPACITY_METRICS)', () => {
  test('off by default; on: namespace RTMPProxy, every minute, the Server cluster (and service) as dimensions', () => {
    assert.equal(loadConfig(base).capacityMetrics, undefined);
    assert.deepEqual(loadConfig({ ...base, CAPACITY_METRICS: 'on' }).capacityMetrics, { namespace: 'RTMPProxy', periodSeconds: 60, dimensions: { Cluster: 'media' } });
    assert.deepEqual(
      loadConfig({ ...base, ECS_CLUSTER: 'arn:aws:ecs:eu-west-1:123456789012:cluster/live', ECS_SERVICE: 'rtmp-server', CAPACITY_METRICS: 'on', CAPACITY_METRICS_PERIOD: '30', CAPACITY_METRICS_NAMESPACE: 'Live/RTMP' }).capacityMetrics,
      { namespace: 'Live/RTMP', periodSeconds: 30, dimensions: { Cluster: 'live', Service: 'rtmp-server' } },
    );
  });

  test('a bad value names the variable, the value and what is allowed', () => {
    const cases: Array<[Record<string, string>, RegExp]> = [
      [{ ...base, CAPACITY_METRICS: 'yes' }, /^CAPACITY_METRICS="yes" is not valid: one of on, off$/],
      [{ ...base, CAPACITY_METRICS: 'on', CAPACITY_METRICS_PERIOD: '45' }, /^CAPACITY_METRICS_PERIOD="45" is not valid: seconds: 10, 30, or a multiple of 60/],
      [{ ...base, CAPACITY_METRICS: 'on', CAPACITY_METRICS_NAMESPACE: 'AWS/ECS' }, /^CAPACITY_METRICS_NAMESPACE="AWS\/ECS" is not valid: a CloudWatch namespace/],
      [{ DISCOVERY: 'static', STATIC_SERVERS: '10.0.0.1:1935', CAPACITY_METRICS: 'on' }, /^CAPACITY_METRICS="on" is not valid: only with DISCOVERY=ecs/],
    ];
    for (const [env, expected] of cases) {
      const errors = errorsOf(env);
      assert.equal(errors.length, 1, `${JSON.stringify(env)} gave ${JSON.stringify(errors)}`);
      assert.match(errors[0]!, expected);
    }
  });
});

describe('the handshake gate, per-source limits and RTMPS', () => {
  test('on by default (5 s, 10 connections, 30 connects per 10 s), each off-able; RTMPS only with a certificate, on 443', () => {
    const c = loadConfig(base);
    assert.deepEqual([c.handshakeTimeoutSeconds, c.sourceMaxStreams, c.sourceMaxConnectRate, c.rtmps], [5, 10, 30, undefined]);
    const off = loadConfig({ ...base, RTMP_HANDSHAKE_TIMEOUT: 'off', SOURCE_MAX_STREAMS: 'off', SOURCE_MAX_CONNECT_RATE: 'off' });
    assert.deepEqual([off.handshakeTimeoutSeconds, off.sourceMaxStreams, off.sourceMaxConnectRate], [undefined, undefined, undefined]);
    assert.deepEqual(loadConfig({ ...base, RTMPS_CERT_FILE: '/etc/rtmp/cert.pem' }).rtmps, { port: 443, certFile: '/etc/rtmp/cert.pem' });
    assert.deepEqual(loadConfig({ ...base, RTMPS_CERT: '-----BEGIN CERTIFICATE-----\nx\n', RTMPS_PORT: '8443' }).rtmps, { port: 8443, certPem: '-----BEGIN CERTIFICATE-----\nx\n' });
  });

  test('a bad value names the variable, the value and what is allowed', () => {
    const cases: Array<[Record<string, string>, RegExp]> = [
      [{ ...base, RTMP_HANDSHAKE_TIMEOUT: '0' }, /^RTMP_HANDSHAKE_TIMEOUT="0" is not valid: whole seconds from 1 to 60 \(default 5\), or "off"$/],
      [{ ...base, SOURCE_MAX_STREAMS: 'many' }, /^SOURCE_MAX_STREAMS="many" is not valid: a whole number of connections/],
      [{ ...base, SOURCE_MAX_CONNECT_RATE: '-3' }, /^SOURCE_MAX_CONNECT_RATE="-3" is not valid/],
      [{ ...base, RTMPS_CERT_FILE: '/a.pem', RTMPS_CERT: 'pem' }, /^RTMPS_CERT="\(a PEM\)" is not valid: unset when RTMPS_CERT_FILE is set/],
      [{ ...base, RTMPS_CERT_FILE: '/a.pem', RTMPS_PORT: '1935' }, /^RTMPS_PORT="1935" is not valid: a port different from RTMP_PORT/],
    ];
    for (const [env, expected] of cases) {
      const errors = errorsOf(env);
      assert.equal(errors.length, 1, `${JSON.stringify(env)} gave ${JSON.stringify(errors)}`);
      assert.match(errors[0]!, expected);
    }
  });
});
