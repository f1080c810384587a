/**
 * Several Proxies in front of one fleet: every Server is owned by exactly one live Proxy, chosen by
 * rendezvous (highest-random-weight) hashing, so a Proxy joining or leaving moves only its own share.
 * A Proxy routes new streams only to Servers it owns, and takes one over only once no peer routes to
 * it or carries a stream on it, confirmed by the peers' own HAProxys. Pure: the answers come in as data.
 */
import { createHash } from 'node:crypto';
import { taskIdFromArn, type HoldReason, type Server } from '../model.js';

/** The owner of `server` among `proxies` (task ARNs): the highest hash of the pair. */
export function ownerOf(server: string, proxies: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestWeight = -1n;
  for (const proxy of proxies) {
    const weight = createHash('sha256').update(proxy).update('\n').update(server).digest().readBigUInt64BE(0);
    if (weight > bestWeight || (weight === bestWeight && best !== undefined && proxy < best)) {
      best = proxy;
      bestWeight = weight;
    }
  }
  return best;
}

/** What a peer Proxy's HAProxy said about the Servers, or that it did not answer. */
export interface PeerAnswer {
  taskArn: string;
  /** RUNNING in ECS now; false: gone from ECS, asked because it was seen lately. */
  live: boolean;
  /** Servers it routes to, has claimed, or carries a stream on; undefined: it did not answer. */
  taken?: ReadonlySet<string>;
}

export interface OwnershipView {
  /** This Proxy's task ARN; undefined while unknown. */
  self: string | undefined;
  /** The live Proxies' task ARNs, this one included; undefined when the list could not be read. */
  proxies: readonly string[] | undefined;
  peers: readonly PeerAnswer[];
}

/**
 * The holds ownership puts on the fleet here. A Server another Proxy owns: `owned-by-peer`. One this
 * Proxy owns: `handoff` while a peer routes to it or carries a stream on it, or, for a Server not
 * routed here yet, while a live peer did not answer (it might route to it). A Server this Proxy
 * routes to already stays as long as it owns it. When this Proxy does not know itself or the others,
 * it keeps what it routes to and takes nothing new.
 */
export function ownershipHolds(fleet: readonly Server[], routedHere: ReadonlySet<string>, view: OwnershipView): Map<string, HoldReason> {
  const holds = new Map<string, HoldReason>();
  const proxies = view.self !== undefined && view.proxies?.includes(view.self) ? view.proxies : undefined;
  const silentLivePeer = view.peers.some((p) => p.live && p.taken === undefined);
  for (const { name } of fleet) {
    if (proxies === undefined) {
      if (!routedHere.has(name)) holds.set(name, 'handoff');
    } else if (ownerOf(name, proxies) !== view.self) {
      holds.set(name, 'owned-by-peer');
    } else if (view.peers.some((p) => p.taken?.has(name)) || (silentLivePeer && !routedHere.has(name))) {
      holds.set(name, 'handoff');
    }
  }
  return holds;
}

/**
 * After this Proxy claimed Servers (HAProxy `drain`: visible to peers, taking nothing) and asked the
 * peers again: a claim no peer holds is enabled; one a peer also claimed, routes to or streams on is
 * released, as are all of them when a live peer did not answer. Two Proxies that claim the same
 * Server each see the other's claim in the second read (each wrote before it read), so at most one
 * enables it; both may release it, and the next sync tries again.
 */
export function settleClaims(claimed: readonly string[], peers: readonly PeerAnswer[]): { enable: string[]; release: string[] } {
  if (peers.some((p) => p.live && p.taken === undefined)) return { enable: [], release: [...claimed] };
  const enable: string[] = [];
  const release: string[] = [];
  for (const name of claimed) (peers.some((p) => p.taken?.has(name)) ? release : enable).push(name);
  return { enable, release };
}

/** A peer seen lately: asked until it says it routes to nothing, stops answering, or this long after it left ECS. */
export const GONE_PEER_MS = 5 * 60_000;

export interface KnownPeer {
  address: string;
  /** When it was last RUNNING in ECS (ms since the epoch). */
  lastLive: number;
}

export interface ProxyTask {
  taskArn: string;
  address: string;
}

/**
 * Which peers to ask this sync (the live ones and those gone lately), and who is remembered next.
 * `live` undefined (ECS could not be read): every peer remembered is asked, as if still live.
 */
export function peersToAsk(
  known: ReadonlyMap<string, KnownPeer>,
  live: readonly ProxyTask[] | undefined,
  self: string | undefined,
  now: number,
): { ask: Array<ProxyTask & { live: boolean }>; known: Map<string, KnownPeer> } {
  if (live === undefined) return { ask: [...known].map(([taskArn, p]) => ({ taskArn, address: p.address, live: true })), known: new Map(known) };
  const next = new Map<string, KnownPeer>();
  for (const [arn, peer] of known) if (now - peer.lastLive < GONE_PEER_MS) next.set(arn, peer);
  for (const p of live) if (p.taskArn !== self) next.set(p.taskArn, { address: p.address, lastLive: now });
  const liveArns = new Set(live.map((p) => p.taskArn));
  const ask = [...next].map(([taskArn, p]) => ({ taskArn, address: p.address, live: liveArns.has(taskArn) }));
  return { ask, known: next };
}

/** Forgets the gone peers that said they route to nothing or did not answer. */
export function forgetSettledPeers(known: ReadonlyMap<string, KnownPeer>, answers: readonly PeerAnswer[]): Map<string, KnownPeer> {
  const next = new Map(known);
  for (const a of answers) if (!a.live && (a.taken === undefined || a.taken.size === 0)) next.delete(a.taskArn);
  return next;
}

/** The peer Proxies as bk_peers servers (their peer listener): everyone listed but this Proxy. */
export function peerServers(proxies: readonly ProxyTask[], self: string | undefined, peerPort: number): Server[] {
  return proxies
    .filter((p) => p.taskArn !== self)
    .map((p) => ({ name: `peer-${taskIdFromArn(p.taskArn) ?? 'unknown'}`, address: p.address, port: peerPort, taskArn: p.taskArn }));
}
