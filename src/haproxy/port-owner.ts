// Who already listens on a port HAProxy is about to bind. HAProxy binds with SO_REUSEPORT, so a
// leftover HAProxy (an interrupted run, a second daemon) on the same address and port does not make
// ours fail: the kernel silently shares the streamers between them, each with its own maxconn counts.
// Linux only (/proc); elsewhere nothing is found and HAProxy's own bind is the only check.
import { readdir, readFile, readlink } from 'node:fs/promises';
import { isIP } from 'node:net';
import { canonicalAddress } from '../model.js';

export interface Listener {
  /** The process holding the listening socket, when /proc lets us see it. */
  pid?: number;
  command?: string;
  /** Local address as the kernel lists it. */
  address: string;
  port: number;
}

interface ListeningSocket {
  address: string;
  port: number;
  inode: string;
}

const TCP_LISTEN = '0A';

/** Hex address of /proc/net/tcp (little-endian IPv4) or tcp6 (four little-endian words) to text. */
function decodeAddress(hex: string): string {
  if (hex.length === 8) return [3, 2, 1, 0].map((i) => parseInt(hex.slice(i * 2, i * 2 + 2), 16)).join('.');
  const words = [];
  for (let w = 0; w < 4; w++) {
    const word = hex.slice(w * 8, w * 8 + 8);
    const bytes = [3, 2, 1, 0].map((i) => word.slice(i * 2, i * 2 + 2));
    words.push(bytes[0]! + bytes[1]!, bytes[2]! + bytes[3]!);
  }
  const full = words.map((g) => parseInt(g, 16).toString(16)).join(':');
  // IPv4-mapped and the unspecified address, in their usual short forms.
  if (/^0:0:0:0:0:ffff:/.test(full)) {
    const [hi, lo] = full.split(':').slice(6).map((g) => parseInt(g, 16));
    return `::ffff:${hi! >> 8}.${hi! & 255}.${lo! >> 8}.${lo! & 255}`;
  }
  return full === '0:0:0:0:0:0:0:0' ? '::' : full;
}

/** The listening sockets in a /proc/net/tcp or tcp6 table. Pure. */
export function parseListeningSockets(table: string): ListeningSocket[] {
  const found: ListeningSocket[] = [];
  for (const line of table.split('\n').slice(1)) {
    const cols = line.trim().split(/\s+/);
    if (cols.length < 10 || cols[3] !== TCP_LISTEN) continue;
    const [addr, port] = cols[1]!.split(':');
    if (addr === undefined || port === undefined) continue;
    found.push({ address: decodeAddress(addr), port: parseInt(port, 16), inode: cols[9]! });
  }
  return found;
}

const WILDCARDS = new Set(['0.0.0.0', '::']);

/** An IPv4-mapped IPv6 address as its IPv4 address, then one spelling per address. */
function comparable(address: string): string {
  return canonicalAddress(address.replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/i, ''));
}

/** True when a listener on `held` takes connections meant for `wanted` (same address, or either is a wildcard). Pure. */
export function overlaps(wanted: string, held: string): boolean {
  if (isIP(wanted) === 0 || isIP(held) === 0) return false;
  const [w, h] = [comparable(wanted), comparable(held)];
  return WILDCARDS.has(w) || WILDCARDS.has(h) || w === h;
}

/** The process already listening where `address:port` would bind, if any. */
export async function findListener(address: string, port: number): Promise<Listener | undefined> {
  const sockets: ListeningSocket[] = [];
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    const text = await readFile(table, 'utf8').catch(() => '');
    sockets.push(...parseListeningSockets(text));
  }
  const hit = sockets.find((s) => s.port === port && overlaps(address, s.address));
  if (!hit) return undefined;
  const owner = await processHoldingSocket(hit.inode);
  return { address: hit.address, port, ...owner };
}

/** The process with `socket:[inode]` among its open files (the first found). */
async function processHoldingSocket(inode: string): Promise<{ pid?: number; command?: string }> {
  const target = `socket:[${inode}]`;
  const pids = (await readdir('/proc').catch(() => [] as string[])).filter((e) => /^\d+$/.test(e));
  for (const pid of pids) {
    const fds = await readdir(`/proc/${pid}/fd`).catch(() => [] as string[]);
    for (const fd of fds) {
      if ((await readlink(`/proc/${pid}/fd/${fd}`).catch(() => '')) !== target) continue;
      const command = (await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')).split('\0').filter(Boolean).join(' ');
      return { pid: Number(pid), ...(command && { command }) };
    }
  }
  return {};
}

/** "RTMP_PORT 1935 on 127.0.0.1 is already in use by pid 123 (haproxy -f …)". */
export function describeTakenPort(variable: string, address: string, l: Listener): string {
  const who = l.pid !== undefined ? `pid ${l.pid}${l.command ? ` (${l.command.slice(0, 120)})` : ''}` : 'another process';
  return (
    `${variable}=${l.port} on ${address} is already in use by ${who}, listening on ${l.address}:${l.port}: ` +
    'HAProxy binds with SO_REUSEPORT and would silently share streamers with it; stop that process or choose another port'
  );
}
