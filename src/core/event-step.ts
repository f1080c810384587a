/**
 * An ECS task event's change applied at once, outside the sync: a stopping Server out of rotation, a
 * new one in (with several Proxies: claimed by its owner, enabled once the peers confirm), with the
 * Runtime API commands that takes, decided from what the daemon last read HAProxy runs. Whatever needs
 * more than that (a held Server, an address another Server uses, a Server a peer owns, BUSY_CHECK,
 * APPLY_MODE=reload, HAProxy being changed by a sync right now) is left to a sync that follows the
 * event at once; a step that did it all needs none (the scheduled sync still comes). Pure: data in,
 * data out.
 */
import type { RuntimeChanges, RuntimeServer, Server } from '../model.js';
import { ownerOf } from './ownership.js';
import type { MembershipPlan } from './plan.js';

/** What the current HAProxy worker runs, as last read (the driver's snapshot), plus the event steps since. */
export interface KnownBackend {
  servers: readonly RuntimeServer[];
  sessionsInOldWorkers: ReadonlyMap<string, number>;
  peers?: readonly RuntimeServer[];
}

export type EventStep =
  /** Out of rotation: `disable server` (its live stream goes on). */
  | { kind: 'drain'; name: string }
  /** A new Server, routable at once: `add server` and `state ready`. */
  | { kind: 'add'; server: Server }
  /** Several Proxies, a new Server this Proxy owns: claimed (`state drain`), enabled once the peers confirm. */
  | { kind: 'claim'; server: Server }
  /** Nothing at once; `why` is logged and the sync that follows decides. */
  | { kind: 'none'; why: string };

/**
 * A step as the driver carried it out. `settled`: the change is live in HAProxy and its config file is
 * on the way, so no sync is needed for it. Not settled: nothing was to be done at once (`none`), a
 * command was refused, or a claim was released; a sync follows at once.
 */
export type AppliedEventStep = EventStep & { settled: boolean };

export interface EventStepSettings {
  applyMode: 'runtime' | 'reload';
  /** Several Proxies (PROXY_SERVICE): a new Server is claimed and confirmed by the peers first. */
  claims: boolean;
  /** With claims: this Proxy and the live Proxies (task ARNs) as the last sync saw them. */
  ownership?: { self: string; proxies: readonly string[] };
  /** BUSY_CHECK: a new Server's own status page is asked first. */
  busyCheck: boolean;
}

/** The step one fleet change calls for, given what HAProxy runs (undefined: not known right now). */
export function planEventStep(
  known: KnownBackend | undefined,
  effect: FleetChange,
  settings: EventStepSettings,
): EventStep {
  if (settings.applyMode === 'reload') return { kind: 'none', why: 'APPLY_MODE=reload: the sync renders and reloads' };
  if (known === undefined) return { kind: 'none', why: 'HAProxy is being changed or was not read yet' };
  const { server } = effect;
  const running = known.servers.find((s) => s.name === server.name);
  if (effect.kind === 'removed') {
    if (running === undefined) return { kind: 'none', why: 'not in HAProxy' };
    if (running.maintenance) return { kind: 'none', why: 'already out of rotation' };
    return { kind: 'drain', name: server.name };
  }
  if (effect.kind === 'updated') return { kind: 'none', why: 'its address changed' };
  if (running !== undefined) return { kind: 'none', why: 'already in HAProxy' };
  if (settings.busyCheck) return { kind: 'none', why: 'BUSY_CHECK: its status page is asked first' };
  if ((known.sessionsInOldWorkers.get(server.name) ?? 0) > 0) return { kind: 'none', why: 'an old worker streams on it' };
  // A new task that got a stopped task's IP is held while the other streams there: the plan's rule.
  // (Compared field by field: formatting thousands of addresses was most of an ADD's own time.)
  if (known.servers.some((s) => s.port === server.port && s.address === server.address)) return { kind: 'none', why: 'another Server has its address' };
  if (!settings.claims) return { kind: 'add', server };
  const { ownership } = settings;
  if (ownership === undefined) return { kind: 'none', why: 'several Proxies: who owns it is not known yet' };
  // A stale list is safe: two Proxies that both claim it see each other's claim and neither enables it.
  if (ownerOf(server.name, ownership.proxies) !== ownership.self) return { kind: 'none', why: 'several Proxies: a peer owns it (held here)' };
  return { kind: 'claim', server };
}

/**
 * What HAProxy runs once the step is done; the same again when a read already shows it. `routable`:
 * whether an added or claimed Server ended in rotation (a claim the peers did not confirm is released).
 */
export function afterEventStep(known: KnownBackend, step: Exclude<EventStep, { kind: 'none' }>, routable = true): KnownBackend {
  if (step.kind === 'drain') {
    return { ...known, servers: known.servers.map((s) => (s.name === step.name && !s.maintenance ? { ...s, maintenance: true, status: 'MAINT' } : s)) };
  }
  if (known.servers.some((s) => s.name === step.server.name)) return known;
  const { name, address, port } = step.server;
  return { ...known, servers: [...known.servers, { name, address, port, sessions: 0, maintenance: !routable, status: routable ? 'no check' : 'MAINT' }] };
}

/**
 * What runs after a sync's runtime steps on bk_rtmp, without reading it back, as after an event step:
 * `before` (what the sync decided on) with the steps HAProxy accepted. Undefined when a step was
 * refused (HAProxy may have taken part of it: an `add server` whose `state ready` was refused) or
 * claims were made (the peers' answers decide them): then what runs must be read.
 */
export function afterSyncSteps(
  before: KnownBackend,
  plan: MembershipPlan,
  done: RuntimeChanges,
  /** The new Servers added in rotation (the others were added in maintenance: held, or stopping). */
  addedInRotation: ReadonlySet<string>,
  /** Servers whose enable was skipped (stopping): not a refusal. */
  notEnabled: ReadonlySet<string>,
): KnownBackend | undefined {
  const all =
    done.disabled.length === plan.disable.length &&
    done.added.length === plan.add.length &&
    done.enabled.length === plan.enable.filter((name) => !notEnabled.has(name)).length &&
    plan.claim.length === 0 &&
    done.cut.length === plan.cut.length &&
    done.deleted.length === plan.delete.length;
  if (!all) return undefined;
  const disabled = new Set(done.disabled);
  const enabled = new Set(done.enabled);
  const cut = new Set(done.cut);
  const deleted = new Set(done.deleted);
  const servers: RuntimeServer[] = [];
  for (const s of before.servers) {
    if (deleted.has(s.name)) continue;
    const maintenance = enabled.has(s.name) ? false : disabled.has(s.name) ? true : s.maintenance;
    servers.push(maintenance === s.maintenance && !cut.has(s.name) ? s : { ...s, maintenance, status: maintenance ? 'MAINT' : 'no check', ...(cut.has(s.name) && { sessions: 0 }) });
  }
  for (const { server } of plan.add) {
    const { name, address, port } = server;
    const routable = addedInRotation.has(name);
    servers.push({ name, address, port, sessions: 0, maintenance: !routable, status: routable ? 'no check' : 'MAINT' });
  }
  // Only what is known: `before` may be a whole snapshot (its file text is not kept).
  return { servers, sessionsInOldWorkers: before.sessionsInOldWorkers, ...(before.peers && { peers: before.peers }) };
}

/** A fleet change an ECS task event brought (src/discovery/task-events.ts). */
export interface FleetChange {
  kind: 'added' | 'updated' | 'removed';
  server: Server;
}

/** The fleet a sync discovered, with the changes events brought after that discovery, in order. */
export function withFleetChanges(fleet: readonly Server[], changes: readonly FleetChange[]): Server[] {
  const byName = new Map(fleet.map((s) => [s.name, s]));
  for (const { kind, server } of changes) {
    if (kind === 'removed') byName.delete(server.name);
    else byName.set(server.name, server);
  }
  return [...byName.values()];
}
