/**
 * What one sync does, decided from data alone: the state the daemon carries from sync to sync, the
 * fleet discovery found, a snapshot of what HAProxy runs, the settings, the clock and the dice. No
 * I/O: the Syncer gathers the inputs and applies the decision (src/sync.ts).
 */
import type { HealthState, RenderedServer, RuntimeServer, Server, SyncStage } from '../model.js';
import { backoffMs, isSuddenDrop } from './guards.js';
import { ownershipHolds, type KnownPeer, type OwnershipView, type ProxyTask } from './ownership.js';
import { holdBusyForReload, isEmptyPlan, planMembership, renderedFromRuntime, type MembershipPlan } from './plan.js';

/** What runs, as the HAProxy driver reads it before a sync decides. */
export interface HaproxySnapshot {
  running: boolean;
  /** The config file on disk (undefined: none yet). */
  file: string | undefined;
  /** The current worker's backend; empty when HAProxy is not running. */
  servers: RuntimeServer[];
  /** Streams that workers left by earlier reloads still carry, by server name. */
  sessionsInOldWorkers: ReadonlyMap<string, number>;
  /** With several Proxies: the peer backend (one server per peer Proxy). */
  peers?: RuntimeServer[];
}

/** Carried from one sync to the next. */
export interface SyncState {
  /** The fleet HAProxy was last brought to: the last known-good set. */
  applied: readonly Server[];
  /** The first sync looked at what a previous daemon left running. */
  seeded: boolean;
  /** A sudden drop seen once, waiting for the next sync to confirm it. */
  pendingDrop: boolean;
  /** When each removed Server began draining (ms since the epoch). */
  drainingSince: ReadonlyMap<string, number>;
  /** Failed syncs in a row, the kind of the last one, and when discovery may be tried again. */
  failures: { count: number; kind: string; retryAt: number };
  /** What the health page was last told. */
  health: HealthState | undefined;
  /** Shutdown began: the health page stays `down`. */
  healthHeldDown: boolean;
  /** Several Proxies: the peers seen lately, and the live Proxies as last listed. */
  peers: ReadonlyMap<string, KnownPeer>;
  proxies: readonly ProxyTask[];
}

export const INITIAL_SYNC_STATE: SyncState = {
  applied: [],
  seeded: false,
  pendingDrop: false,
  drainingSince: new Map(),
  failures: { count: 0, kind: '', retryAt: 0 },
  health: undefined,
  healthHeldDown: false,
  peers: new Map(),
  proxies: [],
};

export interface SyncSettings {
  applyMode: 'runtime' | 'reload';
  maxDropPercent: number;
  /** A drain longer than this cuts the stream; undefined waits for it to end. */
  drainTimeoutMs?: number;
}

/** How long discovery is still left alone after failures (0: go ahead). */
export function backoffRemaining(state: SyncState, now: number): number {
  return Math.max(0, state.failures.retryAt - now);
}

export interface GuardedFleet {
  /** The fleet to apply: discovery's, or the last known-good one while a sudden drop waits. */
  fleet: Server[];
  drop?: { status: 'held' | 'confirmed'; from: number; to: number; maxDropPercent: number };
  state: SyncState;
}

/**
 * The start of a sync once discovery answered. A daemon that restarts while HAProxy runs starts from
 * what HAProxy runs, not from nothing, so its first diff and the drop guard are about real changes.
 * A sudden drop is more often a bad answer than a real scale-in: it is applied only once a second
 * sync confirms it (a real scale-in, even to zero, takes effect one sync later).
 */
export function guardFleet(state: SyncState, discovered: readonly Server[], snapshot: HaproxySnapshot, settings: SyncSettings): GuardedFleet {
  let applied = state.applied;
  if (!state.seeded && applied.length === 0 && snapshot.running) {
    applied = snapshot.servers.map(({ name, address, port }) => ({ name, address, port }));
  }
  const next = { ...state, applied, seeded: true };
  const sudden = isSuddenDrop(applied.length, discovered.length, settings.maxDropPercent);
  const drop = { from: applied.length, to: discovered.length, maxDropPercent: settings.maxDropPercent };
  if (sudden && !state.pendingDrop) return { fleet: [...applied], drop: { status: 'held', ...drop }, state: { ...next, pendingDrop: true } };
  return { fleet: [...discovered], ...(sudden && { drop: { status: 'confirmed' as const, ...drop } }), state: { ...next, pendingDrop: false } };
}

export interface DecideInput {
  state: SyncState;
  /** The guarded fleet (guardFleet). */
  fleet: readonly Server[];
  snapshot: HaproxySnapshot;
  /** Servers whose own status page says they stream (through another Proxy). */
  busyElsewhere: ReadonlySet<string>;
  settings: SyncSettings;
  now: number;
  /** The template, rendering the backends into haproxy.cfg. */
  render: (servers: readonly RenderedServer[], peers?: readonly RenderedServer[]) => string;
  /** With several Proxies: who owns what, and the peer Proxies to forward to (bk_peers). */
  peering?: { view: OwnershipView; peers: readonly Server[] };
}

/** What to do to HAProxy. */
export type Change =
  | { kind: 'none' }
  | { kind: 'start' | 'reload'; text: string; reason: string }
  | { kind: 'runtime'; plan: MembershipPlan; peerPlan?: MembershipPlan };

export interface Decision {
  change: Change;
  /** Removed Servers still carrying a stream, and Servers held out of rotation (runtime mode). */
  draining: string[];
  held: MembershipPlan['held'];
  state: SyncState;
}

/**
 * The change that brings HAProxy to the fleet. APPLY_MODE=reload: render, and start or reload when
 * the text differs. APPLY_MODE=runtime: the membership plan (src/core/plan.ts) through the Runtime
 * API; a reload only for what it cannot do (a template, settings or file that differ from what runs,
 * a Server whose address changed), with every busy Server held in the new worker.
 */
export function decide(input: DecideInput): Decision {
  const { state, fleet, snapshot, settings, render } = input;
  if (settings.applyMode === 'reload') {
    const text = render(fleet.map((s) => ({ ...s, draining: false })));
    const change: Change = !snapshot.running
      ? { kind: 'start', text, reason: 'haproxy was not running' }
      : snapshot.file !== text
        ? { kind: 'reload', text, reason: 'the rendered config changed' }
        : { kind: 'none' };
    return { change, draining: [], held: [], state };
  }

  const routedHere = new Set(snapshot.servers.filter((r) => !r.maintenance).map((r) => r.name));
  const plan = planMembership({
    desired: fleet,
    running: snapshot.servers,
    sessionsInOldWorkers: snapshot.sessionsInOldWorkers,
    busyElsewhere: input.busyElsewhere,
    drainingSince: state.drainingSince,
    now: input.now,
    ...(settings.drainTimeoutMs !== undefined && { drainTimeoutMs: settings.drainTimeoutMs }),
    ...(input.peering && { holds: ownershipHolds(fleet, routedHere, input.peering.view), claim: true }),
  });
  // The peer Proxies: added at once, drained (a forwarded stream goes on) and deleted when they leave.
  const peerPlan = input.peering
    ? planMembership({
        desired: input.peering.peers,
        running: snapshot.peers ?? [],
        sessionsInOldWorkers: new Map(),
        busyElsewhere: new Set(),
        drainingSince: state.drainingSince,
        now: input.now,
      })
    : undefined;
  const draining = [...plan.draining, ...(peerPlan?.draining ?? [])];
  const drainingSince = new Map(draining.map((name) => [name, state.drainingSince.get(name) ?? input.now]));
  const decision = (change: Change): Decision => ({ change, draining: plan.draining, held: plan.held, state: { ...state, drainingSince } });
  const peersText = peerPlan?.configServers ?? [];

  if (!snapshot.running) return decision({ kind: 'start', text: render(plan.configServers, peersText), reason: 'haproxy was not running' });
  // The Runtime API changes servers only: anything else that differs needs a reload.
  const reason =
    snapshot.file !== fileOf(snapshot, render)
      ? 'the template, settings or file on disk differ from what runs'
      : plan.conflicts.length + (peerPlan?.conflicts.length ?? 0) > 0
        ? `servers changed address: ${[...plan.conflicts, ...(peerPlan?.conflicts ?? [])].join(', ')}`
        : undefined;
  // The new worker starts with every count at 0: a Server busy now starts held until its stream ends.
  if (reason !== undefined) {
    return decision({ kind: 'reload', text: render(holdBusyForReload(plan.configServers, snapshot.servers), peersText), reason });
  }
  if (isEmptyPlan(plan) && (peerPlan === undefined || isEmptyPlan(peerPlan))) return decision({ kind: 'none' });
  return decision({ kind: 'runtime', plan, ...(peerPlan && { peerPlan }) });
}

/** The config file for what runs, as read back: what the file says after runtime steps. */
export function fileOf(running: { servers: readonly RuntimeServer[]; peers?: readonly RuntimeServer[] }, render: DecideInput['render']): string {
  return render(renderedFromRuntime(running.servers), renderedFromRuntime(running.peers ?? []));
}

/**
 * After runtime steps: the file follows what runs now, read back, so a refused step leaves the file
 * and HAProxy in agreement. The text to write, or undefined when the file already says it.
 */
export function fileAfterSteps(
  after: { servers: readonly RuntimeServer[]; peers?: readonly RuntimeServer[] },
  file: string | undefined,
  render: DecideInput['render'],
): string | undefined {
  const text = fileOf(after, render);
  return text === file ? undefined : text;
}

/**
 * Servers drained outside a sync (at once, on an ECS task event) whose file did not follow (its
 * background write failed) make what runs differ from the file by exactly their `disabled`: the file
 * adopts that, rather than a reload "repairing" a drifted file (a reload would cost maxconn 1 its
 * guarantee). The file to write, when there is something to adopt and nothing else differs.
 */
export function adoptDrains(snapshot: Pick<HaproxySnapshot, 'file' | 'servers' | 'peers'>, drained: ReadonlySet<string>, render: DecideInput['render']): string | undefined {
  const inMaintenance = new Set(snapshot.servers.filter((s) => drained.has(s.name) && s.maintenance).map((s) => s.name));
  if (inMaintenance.size === 0) return undefined;
  const now = fileOf(snapshot, render);
  if (now === snapshot.file) return undefined;
  const before = fileOf({ ...snapshot, servers: snapshot.servers.map((s) => (inMaintenance.has(s.name) ? { ...s, maintenance: false } : s)) }, render);
  return before === snapshot.file ? now : undefined;
}

/** Names in `next` but not in `prev`, and the reverse. */
export function diffNames(prev: readonly Server[], next: readonly Server[]): { added: string[]; removed: string[] } {
  const before = new Set(prev.map((s) => s.name));
  const after = new Set(next.map((s) => s.name));
  return {
    added: [...after].filter((n) => !before.has(n)).sort(),
    removed: [...before].filter((n) => !after.has(n)).sort(),
  };
}

/** A successful sync: the fleet becomes the last known-good one and the failure streak ends. */
export function afterSuccess(state: SyncState, fleet: readonly Server[]): SyncState {
  return { ...state, applied: [...fleet], failures: { count: 0, kind: '', retryAt: 0 } };
}

export interface FailureVerdict {
  state: SyncState;
  /** `stage:code`: what the failure logger counts repeats of. */
  kind: string;
  code?: string;
  consecutiveFailures: number;
}

/** A failed sync: counted; a failed discovery backs off exponentially with jitter (`random` in [0, 1)), HAProxy failures retry at the next tick. */
export function afterFailure(state: SyncState, stage: SyncStage, error: Error, now: number, random: number): FailureVerdict {
  const raw = (error as { code?: unknown }).code;
  const code = typeof raw === 'string' ? raw : undefined;
  const kind = `${stage}:${code ?? error.name}`;
  const count = state.failures.count + 1;
  const retryAt = stage === 'discovery' ? now + backoffMs(count, random) : 0;
  return { state: { ...state, failures: { count, kind, retryAt } }, kind, ...(code !== undefined && { code }), consecutiveFailures: count };
}

/** The health page's answer this state calls for, when it differs from what it was last told. */
export function healthToSet(state: SyncState): HealthState | undefined {
  const wanted: HealthState = state.healthHeldDown ? 'down' : 'up';
  return state.health === wanted ? undefined : wanted;
}
