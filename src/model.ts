import { isIP } from 'node:net';

/** One media Server the Proxy may route a stream to: pure data, produced by discovery. */
export interface Server {
  /** Stable HAProxy server name, derived from the ECS task id (or the address for static servers). */
  name: string;
  /** IPv4 or IPv6 literal; validated before it can reach a config file. */
  address: string;
  port: number;
  /** ECS task ARN, when the Server came from ECS. */
  taskArn?: string;
  /** Availability zone, when known. */
  zone?: string;
}

/** HAProxy accepts letters, digits, '-', '_', '.', ':' in names; we keep to a safer subset. */
const SAFE_NAME = /^[A-Za-z0-9_.-]{1,64}$/;

export function isSafeServerName(name: string): boolean {
  return SAFE_NAME.test(name);
}

/** True for an IPv4 or IPv6 literal (no zone ids, no hostnames, no whitespace). */
export function isIpLiteral(address: string): boolean {
  return isIP(address) !== 0 && !address.includes('%');
}

export function isValidPort(port: number): boolean {
  return Number.isInteger(port) && port >= 1 && port <= 65535;
}

/** The ECS task id is the last path segment of a task ARN (new and old ARN formats). */
export function taskIdFromArn(taskArn: string): string | undefined {
  const id = taskArn.split('/').pop() ?? '';
  return /^[A-Za-z0-9-]{1,64}$/.test(id) ? id : undefined;
}

/** Stable name for an ECS task: the same task always gets the same name, whatever else is in the fleet. */
export function serverNameForTask(taskId: string): string {
  return `task-${taskId}`;
}

/** Stable name for a statically configured Server. */
export function serverNameForAddress(address: string, port: number): string {
  return `static-${address.replace(/[^A-Za-z0-9.]/g, '_')}-${port}`;
}

/** One spelling per address: IPv6 compressed and lower-case (`0:0::1` and `::1` are the same), IPv4 as is. */
export function canonicalAddress(address: string): string {
  return isIP(address) === 6 ? new URL(`http://[${address}]/`).hostname.slice(1, -1) : address;
}

/** `host:port` as HAProxy reads it; IPv6 literals go in brackets. */
export function formatAddress(address: string, port: number): string {
  return isIP(address) === 6 ? `[${address}]:${port}` : `${address}:${port}`;
}

/** Sorted by name so the same fleet always renders the same bytes. */
export function sortServers(servers: readonly Server[]): Server[] {
  return [...servers].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}
