// A real nginx-rtmp media Server on a loopback address: what the end-to-end tests and the demo route
// streams to. One nginx process per Server, run in the foreground with everything inside workDir.
import { spawn, type ChildProcess } from 'node:child_process';
import { constants as fsConstants } from 'node:fs';
import { access, mkdir, readFile, writeFile } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';

export interface RtmpServerOptions {
  /** Loopback (or other local) IP literal to listen on, e.g. 127.0.0.2. */
  address: string;
  /** RTMP port, default 1935. */
  port?: number;
  /** HTTP port of the /stat page, default 8080. */
  statPort?: number;
  /** Directory for the config, pid file, error log and temp paths; created when missing. */
  workDir: string;
  /** nginx binary; default: `nginx` on PATH, then /usr/sbin/nginx. */
  nginxBin?: string;
  /** ngx_rtmp_module.so; default: the Debian location. */
  rtmpModule?: string;
  /** How long to wait for the RTMP port to accept connections, default 10 s. */
  startTimeoutMs?: number;
}

export interface RtmpServerStats {
  /** Names of the streams that have a publisher (`<publishing/>` on the stat page). */
  publishing: string[];
  /** RTMP clients connected (publishers and players). */
  clients: number;
}

export interface RtmpServer {
  address: string;
  port: number;
  statUrl: string;
  /** rtmp://ADDRESS:PORT/stream/KEY */
  publishUrl(key: string): string;
  stats(): Promise<RtmpServerStats>;
  stop(): Promise<void>;
}

export const RTMP_APPLICATION = 'stream';
const DEBIAN_RTMP_MODULE = '/usr/lib/nginx/modules/ngx_rtmp_module.so';
/** Non-login shells often lack the sbin directories, where Debian puts nginx and haproxy. */
const SBIN_DIRS = ['/usr/local/sbin', '/usr/sbin', '/sbin'];

/** Absolute path of an executable from PATH or the sbin directories, or undefined. */
export async function resolveExecutable(name: string): Promise<string | undefined> {
  if (name.includes('/')) return (await isExecutable(name)) ? name : undefined;
  const dirs = [...(process.env.PATH ?? '').split(path.delimiter).filter(Boolean), ...SBIN_DIRS];
  for (const dir of dirs) {
    const candidate = path.join(dir, name);
    if (await isExecutable(candidate)) return candidate;
  }
  return undefined;
}

async function isExecutable(file: string): Promise<boolean> {
  try {
    await access(file, fsConstants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The nginx config of one Server. Every path lives in workDir so it runs as any user. */
export function renderNginxConfig(o: {
  address: string;
  port: number;
  statPort: number;
  workDir: string;
  rtmpModule: string;
}): string {
  const w = (name: string) => path.join(o.workDir, name);
  return `# Written by rtmp-proxy's startRtmpServer; regenerated on every start.
load_module ${o.rtmpModule};
daemon off;
# One process: SIGTERM stops everything, no orphaned workers.
master_process off;
worker_processes 1;
pid ${w('nginx.pid')};
lock_file ${w('nginx.lock')};
error_log ${w('error.log')} warn;
events { worker_connections 256; }

rtmp {
  # Without this the RTMP module opens /var/log/nginx/access.log.
  access_log off;
  server {
    listen ${o.address}:${o.port};
    application ${RTMP_APPLICATION} { live on; }
  }
}

http {
  access_log off;
  # The compiled-in temp paths are under /var/lib/nginx, which only root can create.
  client_body_temp_path ${w('tmp-body')};
  proxy_temp_path ${w('tmp-proxy')};
  fastcgi_temp_path ${w('tmp-fastcgi')};
  uwsgi_temp_path ${w('tmp-uwsgi')};
  scgi_temp_path ${w('tmp-scgi')};
  server {
    listen ${o.address}:${o.statPort};
    location /stat { rtmp_stat all; }
  }
}
`;
}

/** Parse nginx-rtmp's /stat XML: just the elements we need, matched per <stream> block. */
export function parseRtmpStat(xml: string): RtmpServerStats {
  const publishing: string[] = [];
  for (const block of xml.match(/<stream>[\s\S]*?<\/stream>/g) ?? []) {
    const name = /<name>([\s\S]*?)<\/name>/.exec(block)?.[1];
    if (name !== undefined && block.includes('<publishing/>')) publishing.push(decodeXmlText(name));
  }
  const clients = (xml.match(/<client>/g) ?? []).length;
  return { publishing: publishing.sort(), clients };
}

function decodeXmlText(text: string): string {
  return text
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&apos;/g, "'")
    .replace(/&amp;/g, '&');
}

export async function startRtmpServer(opts: RtmpServerOptions): Promise<RtmpServer> {
  const port = opts.port ?? 1935;
  const statPort = opts.statPort ?? 8080;
  if (net.isIP(opts.address) === 0) throw new Error(`startRtmpServer: not an IP literal: ${JSON.stringify(opts.address)}`);
  for (const p of [port, statPort]) {
    if (!Number.isInteger(p) || p < 1 || p > 65535) throw new Error(`startRtmpServer: bad port ${p}`);
  }

  const nginxBin = await resolveExecutable(opts.nginxBin ?? 'nginx');
  if (!nginxBin) {
    throw new Error(
      `nginx not found (${opts.nginxBin ?? 'nginx on PATH or in /usr/sbin'}); ` +
        'install the Debian packages: apt-get install nginx-light libnginx-mod-rtmp',
    );
  }
  const rtmpModule = opts.rtmpModule ?? DEBIAN_RTMP_MODULE;
  try {
    await access(rtmpModule, fsConstants.R_OK);
  } catch {
    throw new Error(`nginx RTMP module not found at ${rtmpModule}; install the Debian package: apt-get install libnginx-mod-rtmp`);
  }

  // The readiness probe below only sees that *something* accepts on the port; make sure it is not
  // someone else (a leftover nginx, another test), or we would report a Server that is not ours.
  for (const p of [port, statPort]) {
    if (await canConnect(opts.address, p, 500)) {
      throw new Error(`startRtmpServer: ${opts.address}:${p} is already in use by another process`);
    }
  }

  const workDir = path.resolve(opts.workDir);
  await mkdir(workDir, { recursive: true });
  const configFile = path.join(workDir, 'nginx.conf');
  const errorLog = path.join(workDir, 'error.log');
  await writeFile(configFile, renderNginxConfig({ address: opts.address, port, statPort, workDir, rtmpModule }));

  // -e: errors before the config is read go to our log, not the compiled-in default.
  const child = spawn(nginxBin, ['-p', workDir, '-c', configFile, '-e', errorLog], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  liveChildren.add(child);
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    stderr = (stderr + chunk).slice(-4000);
  });
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => {
      liveChildren.delete(child);
      resolve();
    });
    // spawn failure (ENOENT, EACCES): 'exit' may never come.
    child.once('error', () => {
      liveChildren.delete(child);
      resolve();
    });
  });

  const describe = `nginx-rtmp on ${opts.address}:${port}`;
  const logTail = async () => {
    const log = await readFile(errorLog, 'utf8').catch(() => '');
    return `${log}${stderr}`.trim().split('\n').slice(-15).join('\n');
  };
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    if (await settlesWithin(exited, 5000)) return;
    child.kill('SIGKILL');
    await settlesWithin(exited, 2000);
  };

  const timeoutMs = opts.startTimeoutMs ?? 10_000;
  const deadline = Date.now() + timeoutMs;
  const hasExited = () => child.exitCode !== null || child.signalCode !== null || child.pid === undefined;
  // nginx logs [emerg] when a bind fails, then keeps retrying for ~2.5 s before it gives up.
  const hasEmerg = async () => (await readFile(errorLog, 'utf8').catch(() => '')).includes('[emerg]');
  let failure: string | undefined = `not accepting connections after ${timeoutMs}ms`;
  while (Date.now() < deadline) {
    if (hasExited()) {
      failure = `nginx exited (code ${child.exitCode}, signal ${child.signalCode})`;
      break;
    }
    if (await hasEmerg()) {
      failure = 'nginx reported a fatal error';
      break;
    }
    if ((await canConnect(opts.address, port, 500)) && (await canConnect(opts.address, statPort, 500))) {
      failure = undefined;
      break;
    }
    await delay(50);
  }
  if (failure !== undefined) {
    await stop();
    throw new Error(`${describe}: ${failure}; config ${configFile}; log:\n${await logTail()}`);
  }

  const statUrl = `http://${urlHost(opts.address)}:${statPort}/stat`;
  return {
    address: opts.address,
    port,
    statUrl,
    publishUrl: (key: string) => `rtmp://${urlHost(opts.address)}:${port}/${RTMP_APPLICATION}/${encodeURIComponent(key)}`,
    stats: async () => parseRtmpStat(await httpGetText(statUrl, 3000)),
    stop,
  };
}

/** Start one Server per address (same ports and options), each in its own subdirectory of workDir. */
export async function startRtmpServers(
  addresses: string[],
  opts: Omit<RtmpServerOptions, 'address' | 'workDir'> & { workDir: string },
): Promise<RtmpServer[]> {
  const settled = await Promise.allSettled(
    addresses.map((address) => startRtmpServer({ ...opts, address, workDir: path.join(opts.workDir, `nginx-${address}`) })),
  );
  const started = settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed) {
    // All or nothing: don't leave half a fleet running.
    await Promise.all(started.map((s) => s.stop()));
    throw failed.reason;
  }
  return started;
}

/** nginx processes we started and that are still running: killed if this Node process exits first. */
const liveChildren = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of liveChildren) child.kill('SIGKILL');
});

function urlHost(address: string): string {
  return net.isIPv6(address) ? `[${address}]` : address;
}


async function settlesWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([p.then(() => true as const), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** True if a TCP connection to host:port is accepted within timeoutMs. */
export function canConnect(host: string, port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

function httpGetText(url: string, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { timeout: timeoutMs }, (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        reject(new Error(`GET ${url}: HTTP ${res.statusCode}`));
        return;
      }
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
      });
      res.on('end', () => resolve(body));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${url}: no answer within ${timeoutMs}ms`)));
    req.on('error', reject);
  });
}
