// Set-up shared by the tests that run a Proxy: a private temp dir, the Proxy's addresses and HAProxy
// paths as environment, stand-in Servers, and AWS settings pointing the SDK at the emulator.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Cleanup } from './processes.js';
import { startTcpBackend, type TcpBackend } from './tcp-backends.js';

/** A temp dir removed at cleanup. */
export async function tempDir(cleanup: Cleanup, prefix: string): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), `rtmp-proxy-${prefix}-`));
  cleanup.defer(`temp dir ${dir}`, () => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** The environment for a Proxy on `address` whose HAProxy files live in `dir`. */
export function proxyEnv(dir: string, proxy: { address: string; rtmp: number; health: number }): Record<string, string> {
  return {
    BIND_ADDRESS: proxy.address,
    RTMP_PORT: String(proxy.rtmp),
    HEALTH_PORT: String(proxy.health),
    HAPROXY_CONFIG: path.join(dir, 'haproxy.cfg'),
    HAPROXY_PIDFILE: path.join(dir, 'haproxy.pid'),
    HAPROXY_SOCKET: path.join(dir, 'admin.sock'),
  };
}

/** Stand-in Servers on `addresses`:`port`, closed at cleanup. */
export async function startBackends(cleanup: Cleanup, addresses: readonly string[], port: number, opts: { hold?: boolean } = {}): Promise<TcpBackend[]> {
  const backends: TcpBackend[] = [];
  for (const address of addresses) {
    const backend = await startTcpBackend(address, port, opts);
    cleanup.defer(`backend ${address}`, () => backend.close());
    backends.push(backend);
  }
  return backends;
}

/** Points this process's default AWS SDK clients at the emulator, until cleanup. */
export function useEmulatorForAws(cleanup: Cleanup, emulatorUrl: string): void {
  const env = { AWS_REGION: 'us-east-1', AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test', AWS_ENDPOINT_URL_ECS: emulatorUrl, AWS_ENDPOINT_URL_EC2: emulatorUrl, AWS_ENDPOINT_URL_SQS: emulatorUrl, AWS_ENDPOINT_URL_SNS: emulatorUrl, AWS_ENDPOINT_URL_CLOUDWATCH: emulatorUrl };
  for (const [name, value] of Object.entries(env)) {
    const previous = process.env[name];
    process.env[name] = value;
    cleanup.defer(`env ${name}`, () => {
      if (previous === undefined) delete process.env[name];
      else process.env[name] = previous;
    });
  }
}
