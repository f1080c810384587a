// An ffmpeg RTMP publisher, as a streamer (OBS, ffmpeg) would be: a synthetic test pattern in real
// time (-re), kept cheap for a shared 2-core machine: 160x120 at 10 fps, Sorenson H.263 (flv1), no audio.
import { spawn } from 'node:child_process';
import type { RtmpServer } from '../../dev/media/rtmp-server.js';
import { within } from './processes.js';
import { waitFor } from './wait.js';

export interface PublisherOptions {
  /** ffmpeg binary, default `ffmpeg` on PATH. */
  ffmpegBin?: string;
  /** Video size, default 160x120. */
  size?: string;
  /** Frames per second, default 10. */
  rate?: number;
  /** Stop by itself after this many seconds (ffmpeg -t); default: run until stopped. */
  durationSec?: number;
  /** ffmpeg -loglevel, default 'info' (stderrTail then shows the connection and errors). */
  logLevel?: string;
}

export interface Publisher {
  url: string;
  pid: number | undefined;
  /** SIGTERM, then SIGKILL if ffmpeg has not exited within 3 s. */
  stop(): Promise<void>;
  running(): boolean;
  /** Exit code, or null when killed by a signal. */
  exited: Promise<number | null>;
  /** The last few KB of ffmpeg's stderr, for failure messages. */
  stderrTail(): string;
}

export function ffmpegPublishArgs(url: string, opts: PublisherOptions = {}): string[] {
  return [
    '-hide_banner',
    '-nostdin',
    '-nostats',
    '-loglevel', opts.logLevel ?? 'info',
    '-re',
    '-f', 'lavfi',
    '-i', `testsrc=size=${opts.size ?? '160x120'}:rate=${opts.rate ?? 10}`,
    ...(opts.durationSec !== undefined ? ['-t', String(opts.durationSec)] : []),
    '-an',
    '-c:v', 'flv1',
    '-b:v', '100k',
    '-g', String(opts.rate ?? 10),
    '-f', 'flv',
    url,
  ];
}

export function startPublisher(url: string, opts: PublisherOptions = {}): Publisher {
  const child = spawn(opts.ffmpegBin ?? 'ffmpeg', ffmpegPublishArgs(url, opts), { stdio: ['ignore', 'ignore', 'pipe'] });
  let tail = '';
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    tail = (tail + chunk).slice(-4000);
  });
  let done = false;
  const exited = new Promise<number | null>((resolve) => {
    child.once('exit', (code) => {
      done = true;
      resolve(code);
    });
    child.once('error', (error) => {
      done = true;
      tail += `\nspawn failed: ${error.message}`;
      resolve(null);
    });
  });

  const stop = async () => {
    if (done) return;
    child.kill('SIGTERM');
    if (await within(exited, 3000)) return;
    child.kill('SIGKILL');
    await within(exited, 2000);
  };

  return { url, pid: child.pid, stop, running: () => !done, exited, stderrTail: () => tail };
}

/** Wait until the Server's stat page shows `key` with <publishing/>; resolves with the stats then. */
export async function waitUntilPublishing(server: RtmpServer, key: string, timeoutMs: number) {
  return waitFor(
    async () => {
      const stats = await server.stats();
      return stats.publishing.includes(key) ? stats : undefined;
    },
    { timeoutMs, intervalMs: 100, what: `stream "${key}" publishing on ${server.address}:${server.port}` },
  );
}

/**
 * Every Server's own stat page: the stream keys each one publishes. A Server with more than one is
 * recorded in `doubleBooked` ("address: key, key"), so a test can assert none ever was.
 */
export async function streamsOnServers(servers: readonly RtmpServer[], doubleBooked: string[]): Promise<Map<string, string[]>> {
  const map = new Map<string, string[]>();
  for (const s of servers) {
    const { publishing } = await s.stats();
    map.set(s.address, publishing);
    if (publishing.length > 1) doubleBooked.push(`${s.address}: ${publishing.join(', ')}`);
  }
  return map;
}
