import { sortServers, type HoldReason, type RenderedServer, type RuntimeServer, type Server } from '../model.js';

/** Everything the membership plan depends on: data in, data out, no I/O. */
export interface MembershipInput {
  /** The fleet discovery found. */
  desired: readonly Server[];
  /** The backend as the current HAProxy worker runs it. */
  running: readonly RuntimeServer[];
  /** Streams that older workers (left by a reload) still carry, by server name. */
  sessionsInOldWorkers: ReadonlyMap<string, number>;
  /** Servers whose own status page says they are streaming (through another Proxy, or an old worker). */
  busyElsewhere: ReadonlySet<string>;
  /** When this daemon began draining each removed server (ms since epoch). */
  drainingSince: ReadonlyMap<string, number>;
  now: number;
  /** A drain longer than this cuts the stream; undefined waits for it to end. */
  drainTimeoutMs?: number;
  /** Holds decided elsewhere (ownership across Proxies), by server name. */
  holds?: ReadonlyMap<string, HoldReason>;
  /** Several Proxies: a Server is claimed first (taking nothing, visible to peers), enabled once no peer holds it. */
  claim?: boolean;
}

export interface MembershipPlan {
  /** New Servers; `enable` false when held. */
  add: Array<{ server: Server; enable: boolean }>;
  /** In the fleet, in maintenance, no longer held. */
  enable: string[];
  /** Like `enable`, with several Proxies: claimed first, enabled once the peers confirm (core/ownership.ts). */
  claim: string[];
  /** Take no new stream: removed from the fleet, or held. */
  disable: Array<{ name: string; reason: 'removed' | HoldReason }>;
  /** Drains that outlived the drain timeout: their streams are cut. */
  cut: string[];
  /** Removed and carrying nothing in this worker: deleted from the backend. */
  delete: string[];
  /** Same name, another address: the Runtime API cannot move a server, a reload must. */
  conflicts: string[];
  /** Removed Servers still carrying a stream: drained, kept until it ends. */
  draining: string[];
  /** Held Servers and why. */
  held: Array<{ name: string; reason: HoldReason }>;
  /** The backend the config file must list once the plan is applied (sorted). */
  configServers: RenderedServer[];
}

/** True when the plan changes nothing in HAProxy. */
export function isEmptyPlan(plan: MembershipPlan): boolean {
  return plan.add.length + plan.enable.length + plan.claim.length + plan.disable.length + plan.cut.length + plan.delete.length === 0;
}

/**
 * Diffs the running backend against the fleet. A Server is never handed a second stream: one busy in
 * an older worker or, by its own status page, through another Proxy is held in maintenance until it
 * is free. A removed Server is drained, not cut: deleted only once it carries nothing here.
 */
export function planMembership(input: MembershipInput): MembershipPlan {
  const plan: MembershipPlan = { add: [], enable: [], claim: [], disable: [], cut: [], delete: [], conflicts: [], draining: [], held: [], configServers: [] };
  const running = new Map(input.running.map((r) => [r.name, r]));
  const desiredNames = new Set(input.desired.map((s) => s.name));
  // Built once, so the plan stays linear in the fleet: who else can take a stream at each address:port
  // now — a server streaming there, or one leaving the fleet that is still routable until this plan
  // disables it (a new task that got a stopped task's IP must not be routable beside it, even briefly).
  const occupiedBy = new Map<string, string[]>();
  for (const r of input.running) {
    if (r.sessions === 0 && (r.maintenance || desiredNames.has(r.name))) continue;
    const key = `${r.address}:${r.port}`;
    occupiedBy.set(key, [...(occupiedBy.get(key) ?? []), r.name]);
  }

  for (const server of input.desired) {
    const r = running.get(server.name);
    const hold = holdReason(server.name, r, input, occupiedBy.get(`${server.address}:${server.port}`) ?? []);
    if (hold) plan.held.push({ name: server.name, reason: hold });
    // With claims, a Server not routed here yet is written disabled: it is enabled only once the peers confirm.
    const unconfirmed = input.claim === true && (r === undefined || r.maintenance);
    plan.configServers.push({ ...server, draining: hold !== undefined || unconfirmed });
    if (!r) {
      plan.add.push({ server, enable: hold === undefined && !input.claim });
      if (hold === undefined && input.claim) plan.claim.push(server.name);
    } else if (r.address !== server.address || r.port !== server.port) {
      plan.conflicts.push(server.name);
    } else if (hold && !r.maintenance) {
      plan.disable.push({ name: server.name, reason: hold });
    } else if (!hold && r.maintenance) {
      (input.claim ? plan.claim : plan.enable).push(server.name);
    }
  }

  for (const r of input.running) {
    if (desiredNames.has(r.name)) continue;
    if (r.sessions === 0) {
      if (!r.maintenance) plan.disable.push({ name: r.name, reason: 'removed' });
      plan.delete.push(r.name);
      continue;
    }
    if (!r.maintenance) plan.disable.push({ name: r.name, reason: 'removed' });
    const since = input.drainingSince.get(r.name) ?? input.now;
    if (input.drainTimeoutMs !== undefined && input.now - since >= input.drainTimeoutMs) plan.cut.push(r.name);
    plan.draining.push(r.name);
    plan.configServers.push({ name: r.name, address: r.address, port: r.port, draining: true });
  }

  plan.configServers = sortServers(plan.configServers) as RenderedServer[];
  return plan;
}

function holdReason(name: string, running: RuntimeServer | undefined, input: MembershipInput, occupiedBy: readonly string[]): HoldReason | undefined {
  const decided = input.holds?.get(name);
  if (decided) return decided;
  if ((input.sessionsInOldWorkers.get(name) ?? 0) > 0) return 'busy-in-old-worker';
  // The same address under another name (a new task that got a stopped task's IP): held while the
  // other streams there, or for one sync while the other is still routable and being disabled.
  if (occupiedBy.some((other) => other !== name)) return 'address-busy';
  // A stream of our own on it already fills its maxconn 1; the status page is then about that stream.
  if (input.busyElsewhere.has(name) && (running?.sessions ?? 0) === 0) return 'busy-elsewhere';
  return undefined;
}

/** The running backend as the template renders it: maintenance shows as `disabled`. */
export function renderedFromRuntime(running: readonly RuntimeServer[]): RenderedServer[] {
  return running.map((r) => ({ name: r.name, address: r.address, port: r.port, draining: r.maintenance }));
}

/** For a reload: the new worker starts with every count at 0, so a Server busy now must start held. */
export function holdBusyForReload(configServers: readonly RenderedServer[], running: readonly RuntimeServer[]): RenderedServer[] {
  const busy = new Set(running.filter((r) => r.sessions > 0).map((r) => r.name));
  return configServers.map((s) => (busy.has(s.name) ? { ...s, draining: true } : s));
}
