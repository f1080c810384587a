/**
 * The shared model: what a Server is, how HAProxy sees one, what a sync did, and the names the daemon
 * and the template agree on. Data and small pure helpers only.
 */
import { isIP } from 'node:net';

/** The backend the Runtime API changes, and the frontend whose streams a shutdown waits for: the template must keep these names. */
export const RTMP_BACKEND = 'bk_rtmp';
export const RTMP_FRONTEND = 'ft_rtmp';

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

/** A Server as the template sees it: `draining` Servers keep their live stream and take no new one. */
export interface RenderedServer extends Server {
  draining: boolean;
}

/** One server as a running HAProxy worker sees it. */
export interface RuntimeServer {
  name: string;
  address: string;
  port: number;
  /** Connections attached now (a live stream is one). */
  sessions: number;
  /** In maintenance (disabled): takes no new connection, keeps the live one. */
  maintenance: boolean;
  /** HAProxy's status column: UP, DOWN, MAINT, DRAIN, no check… */
  status: string;
}

/** One Server of the backend as HAProxy runs it after a sync, with every stream it carries. */
export interface BackendServer {
  name: string;
  address: string;
  port: number;
  /** ECS task ARN, when the Server came from ECS and is still in the fleet. */
  taskArn?: string;
  /** Streams on it: the current worker's plus those old workers still carry. */
  streams: number;
  /** Taking no new stream: draining, held, or out of the fleet. */
  maintenance: boolean;
  /** HAProxy's status column (UP, DOWN, MAINT, …). */
  status: string;
}

/** HAProxy routes to a server in this state: its health check passes, or it has none. */
export function isRoutableStatus(status: string): boolean {
  return /^(UP|no check)/.test(status);
}

/** A Server that takes the next streamer: in rotation, routable, carrying no stream in any worker. */
export function isFree(s: Pick<BackendServer, 'streams' | 'maintenance' | 'status'>): boolean {
  return s.streams === 0 && !s.maintenance && isRoutableStatus(s.status);
}

/** The backend with every stream on each Server (old workers' included) and the task each one is. */
export function backendServers(
  running: readonly RuntimeServer[],
  sessionsInOldWorkers: ReadonlyMap<string, number>,
  fleet: readonly Server[],
): BackendServer[] {
  const taskArns = new Map(fleet.flatMap((s) => (s.taskArn ? [[s.name, s.taskArn] as const] : [])));
  return running.map((r) => {
    const taskArn = taskArns.get(r.name);
    return {
      name: r.name,
      address: r.address,
      port: r.port,
      ...(taskArn && { taskArn }),
      streams: r.sessions + (sessionsInOldWorkers.get(r.name) ?? 0),
      maintenance: r.maintenance,
      status: r.status,
    };
  });
}

/** What the health frontend answers: 200 with the static page (`up`) or 503 (`down`). */
export type HealthState = 'up' | 'down';

/** What a sync did to HAProxy: nothing, started it, reloaded it, or changed it through the Runtime API. */
export type SyncAction = 'none' | 'started' | 'reloaded' | 'runtime';
/** Where a sync failed; `backoff`: discovery was left alone this tick after earlier failures. */
export type SyncStage = 'backoff' | 'discovery' | 'render' | 'validate' | 'apply';
/**
 * Why a Server that is in the fleet takes no new stream here for now. With several Proxies:
 * `owned-by-peer`, another Proxy owns it; `handoff`, it is ours but a peer still routes to it,
 * carries a stream on it or could not be asked.
 */
export type HoldReason = 'busy-in-old-worker' | 'busy-elsewhere' | 'address-busy' | 'owned-by-peer' | 'handoff';

/** The backend peers' forwarded streamers go to (one server per peer Proxy); never forwarded again. */
export const PEER_BACKEND = 'bk_peers';

/** Runtime API changes a sync made, by kind (server names). */
export interface RuntimeChanges {
  added: string[];
  enabled: string[];
  /** Several Proxies: claimed first, then enabled or released once the peers answered. */
  claimed: string[];
  disabled: string[];
  deleted: string[];
  cut: string[];
}

/** A sudden drop of the fleet, held back until the next successful sync confirms it. */
export interface DropHeld {
  from: number;
  to: number;
  maxDropPercent: number;
}

export interface SyncSuccess {
  ok: true;
  /** Servers in the fleet this sync applied. */
  servers: number;
  added: string[];
  removed: string[];
  durationMs: number;
  action: SyncAction;
  /** Why HAProxy was started or reloaded. */
  reason?: string;
  changes?: RuntimeChanges;
  /** Removed Servers still carrying a stream. */
  draining?: string[];
  /** Servers in the fleet held out of rotation, and why. */
  held?: Array<{ name: string; reason: HoldReason }>;
  dropHeld?: DropHeld;
  /** The backend as HAProxy runs it after the sync, when it could be read. */
  backend?: BackendServer[];
}

export interface SyncFailure {
  ok: false;
  stage: SyncStage;
  error: Error;
  /** The AWS (or socket) error code, when there is one. */
  code?: string;
  durationMs: number;
  consecutiveFailures: number;
  retryInMs?: number;
}

export type SyncOutcome = SyncSuccess | SyncFailure;

/** An outcome without its per-Server backend list, for what is kept long (the daemon's first sync). */
export type SyncSummary = Omit<SyncSuccess, 'backend'> | SyncFailure;

export function summaryOf(outcome: SyncOutcome): SyncSummary {
  if (!outcome.ok) return outcome;
  const { backend: _backend, ...summary } = outcome;
  return summary;
}
