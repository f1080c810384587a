/**
 * The other Proxies (PROXY_SERVICE): who runs (the RUNNING tasks of the Proxies' own ECS service, each
 * with its private IP), who this Proxy is (PROXY_TASK_ARN, or the ECS task metadata endpoint), and
 * what each peer's HAProxy routes to (its stats, read over the peer API). Adapters only: what to make
 * of the answers is src/core/ownership.ts.
 */
import type { ECSClient } from '@aws-sdk/client-ecs';
import type { PeeringConfig } from '../config.js';
import type { PeerAnswer } from '../core/ownership.js';
import { parseServerStats, ServerStatsParser } from '../haproxy/runtime-api.js';
import { getStreaming, getText } from '../http-get.js';
import { LineSplitter } from '../line-splitter.js';
import { FailureLog, type Logger } from '../log.js';
import { formatAddress, RTMP_BACKEND, type RuntimeServer } from '../model.js';
import { createEcsDiscovery } from './ecs.js';

export interface ProxyTask {
  taskArn: string;
  address: string;
}

/** The Proxies as this sync saw them; `proxies` undefined when ECS could not be read. */
export interface ProxyFleet {
  self: string | undefined;
  proxies: ProxyTask[] | undefined;
}

export interface ProxyDiscovery {
  discover(): Promise<ProxyFleet>;
  /** Asks each peer's HAProxy which Servers it routes to, has claimed, or carries a stream on. */
  readPeers(peers: ReadonlyArray<{ taskArn: string; address: string; live: boolean }>): Promise<PeerAnswer[]>;
}

const METADATA_TIMEOUT_MS = 2000;
const PEER_TIMEOUT_MS = 1500;
/** The metadata endpoint's task document is a few KB. */
const MAX_METADATA_BYTES = 1024 * 1024;
/** A stats page of 10,000 Servers is ~3 MB; anything larger is not an HAProxy answering. */
const MAX_PEER_ANSWER_BYTES = 8 * 1024 * 1024;
const TASK_ARN = /^arn:aws[a-z-]*:ecs:[a-z0-9-]+:\d{12}:task\/[A-Za-z0-9/_-]{1,255}$/;

/** This task's ARN from the ECS task metadata endpoint (v4): `${uri}/task` → TaskARN. */
export async function readOwnTaskArn(metadataUri: string, timeoutMs = METADATA_TIMEOUT_MS): Promise<string> {
  const text = await getText(`${metadataUri.replace(/\/$/, '')}/task`, { timeoutMs, maxBytes: MAX_METADATA_BYTES }).catch((e: Error) => {
    throw new Error(`the task metadata endpoint: ${e.message}`);
  });
  let arn: unknown;
  try {
    arn = (JSON.parse(text) as { TaskARN?: unknown } | null)?.TaskARN;
  } catch {
    throw new Error(`the task metadata endpoint answered no JSON (${JSON.stringify(text.slice(0, 100))})`);
  }
  if (typeof arn !== 'string' || !TASK_ARN.test(arn)) throw new Error(`the task metadata endpoint gave no task ARN (TaskARN=${JSON.stringify(arn)?.slice(0, 100)})`);
  return arn;
}

/**
 * A peer's stats (CSV) → the Servers it holds: routed to (not in maintenance), claimed (drain) or
 * streaming. Parsed as `show stat` is (5 columns decoded per line): at thousands of Servers a peer's
 * page is MBs, read from every peer at every sync.
 */
export function takenInPeerStats(csv: string): Set<string> {
  return takenOf(parseServerStats(csv, RTMP_BACKEND));
}

function takenOf(servers: readonly RuntimeServer[]): Set<string> {
  const names = new Set<string>();
  for (const s of servers) if (!s.status.includes('MAINT') || s.sessions > 0) names.add(s.name);
  return names;
}

/** A peer's stats page, parsed line by line as it streams in (as takenInPeerStats parses a whole one). */
async function readPeer(address: string, port: number): Promise<Set<string>> {
  const parser = new ServerStatsParser(RTMP_BACKEND);
  const lines = new LineSplitter((line) => parser.line(line));
  await getStreaming(`http://${formatAddress(address, port)}/stats;csv`, { timeoutMs: PEER_TIMEOUT_MS, maxBytes: MAX_PEER_ANSWER_BYTES }, (chunk) => lines.push(chunk));
  lines.end();
  return takenOf(parser.done());
}

export function createProxyDiscovery(opts: { peering: PeeringConfig; logger: Logger; ecs?: ECSClient; metadataUri?: string }): ProxyDiscovery {
  const { peering, logger } = opts;
  const tasks = createEcsDiscovery({
    cluster: peering.cluster,
    service: peering.service,
    serverPort: peering.peerPort,
    addressMode: 'private',
    logger,
    ...(opts.ecs && { ecs: opts.ecs }),
  });
  const failures = new FailureLog(logger);
  let self = peering.taskArn;
  const silentPeers = new Set<string>();

  return {
    async discover() {
      if (self === undefined) {
        if (opts.metadataUri === undefined) {
          failures.failed('self:unset', { variable: 'PROXY_TASK_ARN' }, 'PROXY_SERVICE is set but this Proxy does not know its task: set PROXY_TASK_ARN (on ECS, ECS_CONTAINER_METADATA_URI_V4 tells it); taking no Server over meanwhile');
        } else {
          self = await readOwnTaskArn(opts.metadataUri).catch((e: Error) => {
            failures.failed('self:metadata', { err: e.message }, 'could not read this Proxy\'s task ARN from the task metadata endpoint; taking no Server over meanwhile');
            return undefined;
          });
        }
      }
      const proxies = await tasks.discover().then(
        ({ servers }) => servers.flatMap((s) => (s.taskArn ? [{ taskArn: s.taskArn, address: s.address }] : [])),
        (e: Error & { code?: string }) => {
          failures.failed(`proxies:${e.code ?? e.name}`, { err: e.message, service: peering.service }, 'could not list the Proxies (PROXY_SERVICE); taking no Server over meanwhile');
          return undefined;
        },
      );
      if (self !== undefined && proxies !== undefined) failures.recovered('Proxy discovery answers again');
      return { self, proxies };
    },

    async readPeers(peers) {
      return Promise.all(
        peers.map(async (p): Promise<PeerAnswer> => {
          try {
            const taken = await readPeer(p.address, peering.peerApiPort);
            if (silentPeers.delete(p.taskArn)) logger.info({ peer: p.taskArn }, 'peer Proxy answers again');
            return { taskArn: p.taskArn, live: p.live, taken };
          } catch (e) {
            const fields = { peer: p.taskArn, address: formatAddress(p.address, peering.peerApiPort), live: p.live, err: (e as Error).message };
            if (!silentPeers.has(p.taskArn)) logger.warn(fields, 'peer Proxy did not answer: its Servers are not taken over until it does (or it leaves ECS)');
            silentPeers.add(p.taskArn);
            return { taskArn: p.taskArn, live: p.live };
          }
        }),
      );
    },
  };
}

/**
 * The Proxy list kept for `maxAgeMs()` (with ECS task events, the Proxies' own task changes say when
 * it is out of date: `invalidate`), so syncs between changes make no ECS call. What the peers route
 * to is read every time: that is HTTP to the peers, not ECS.
 */
export function cacheProxyList(inner: ProxyDiscovery, maxAgeMs: () => number, now: () => number = Date.now): ProxyDiscovery & { invalidate(): void } {
  let cached: { fleet: ProxyFleet; at: number } | undefined;
  return {
    async discover() {
      if (cached && now() - cached.at < maxAgeMs()) return cached.fleet;
      const at = now();
      const fleet = await inner.discover();
      cached = fleet.self !== undefined && fleet.proxies !== undefined ? { fleet, at } : undefined;
      return fleet;
    },
    readPeers: (peers) => inner.readPeers(peers),
    invalidate() {
      cached = undefined;
    },
  };
}
