/**
 * An ECS task event's change applied at once, outside the sync: a stopping Server out of rotation, a
 * new one in, with the one Runtime API command each needs, decided from what the daemon last read
 * HAProxy runs. Whatever needs more than that (a held Server, an address another Server uses, the
 * claims of several Proxies, BUSY_CHECK, APPLY_MODE=reload, HAProxy being changed by a sync right now)
 * is left to the sync that follows the event at once. Pure: data in, data out.
 */
import { formatAddress, type RuntimeServer, type Server } from '../model.js';

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
  /** Nothing at once; `why` is logged and the sync that follows decides. */
  | { kind: 'none'; why: string };

export interface EventStepSettings {
  applyMode: 'runtime' | 'reload';
  /** Several Proxies (PROXY_SERVICE): a new Server is claimed and confirmed by the peers first. */
  claims: boolean;
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
  if (settings.claims) return { kind: 'none', why: 'several Proxies: claimed, then enabled once the peers confirm' };
  if (settings.busyCheck) return { kind: 'none', why: 'BUSY_CHECK: its status page is asked first' };
  if ((known.sessionsInOldWorkers.get(server.name) ?? 0) > 0) return { kind: 'none', why: 'an old worker streams on it' };
  const address = formatAddress(server.address, server.port);
  // A new task that got a stopped task's IP is held while the other streams there: the plan's rule.
  if (known.servers.some((s) => formatAddress(s.address, s.port) === address)) return { kind: 'none', why: 'another Server has its address' };
  return { kind: 'add', server };
}

/** What HAProxy runs once the step is done; the same again when a read already shows it. */
export function afterEventStep(known: KnownBackend, step: Exclude<EventStep, { kind: 'none' }>): KnownBackend {
  if (step.kind === 'drain') {
    return { ...known, servers: known.servers.map((s) => (s.name === step.name && !s.maintenance ? { ...s, maintenance: true, status: 'MAINT' } : s)) };
  }
  if (known.servers.some((s) => s.name === step.server.name)) return known;
  const { name, address, port } = step.server;
  return { ...known, servers: [...known.servers, { name, address, port, sessions: 0, maintenance: false, status: 'no check' }] };
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
