/**
 * A day of streamers against the Server fleet, second by second, under a scaling policy
 * (scaling.ts). Pure and seeded: the same inputs give the same numbers.
 *
 * - Arrivals: a non-homogeneous Poisson process (thinning) with a daily rate curve; stream lengths
 *   log-normal. Drawn once per seed (`arrivals()`) so every policy meets the same streamers.
 * - A streamer takes a free Server at once; with none free it waits in HAProxy's queue up to
 *   `queueTimeoutS` (10 s) for one, else it is refused.
 * - The policy sees one datapoint a minute (free Servers, or the service's average CPU), `metricLagS`
 *   old (publishing + alarm evaluation), and changes the desired count.
 * - A task started becomes a free Server after a Fargate start latency (uniform in
 *   `startLatencyS`). Scale-in stops idle Servers (free, then starting) only: a busy Server is
 *   protected and is stopped when its stream ends, if the service is still above its desired count.
 */
import {
  cpuTargetTracking,
  initialCpuState,
  initialStepState,
  serviceCpuPercent,
  stepPolicy,
  type CpuState,
  type CpuTargetTracking,
  type StepPolicy,
  type StepState,
} from './scaling.js';

/** mulberry32: a small seeded PRNG, uniform in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A standard normal draw (Box–Muller). */
function normal(random: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
}

export interface Demand {
  /** Window length, minutes. */
  minutes: number;
  /** Clock time of the window's start, hours (the rate curve is in clock time). */
  startHour: number;
  /** Arrivals per minute at the quietest hour and at the evening peak (the curve's top, `peakHour`). */
  baseRatePerMin: number;
  peakRatePerMin: number;
  peakHour: number;
  /** A burst on top of the curve: `burstStreamers` more streamers spread evenly over `burstMinutes` from `burstHour`. */
  burstHour: number;
  burstMinutes: number;
  burstStreamers: number;
  /** Stream length: log-normal with this median and σ of its logarithm, capped. */
  streamMedianS: number;
  streamSigma: number;
  streamMaxS: number;
}

/**
 * A day from 06:00 (the quiet hours, so an empty fleet is a fair start): 0.05 arrivals a minute at
 * 08:00 up to 2 at 20:00, and a burst of 30 more streamers in 5 minutes at 18:30 (an event going
 * live). With streams of ~40 min (median; mean ~55) that is ~120–140 concurrent streams at the peak.
 */
export const DEFAULT_DEMAND: Demand = {
  minutes: 24 * 60,
  startHour: 6,
  baseRatePerMin: 0.05,
  peakRatePerMin: 2,
  peakHour: 20,
  burstHour: 18.5,
  burstMinutes: 5,
  burstStreamers: 30,
  streamMedianS: 40 * 60,
  streamSigma: 0.8,
  streamMaxS: 8 * 3600,
};

/** Arrivals per second at second `s` of the window. */
export function ratePerSecond(d: Demand, s: number): number {
  const hour = d.startHour + s / 3600;
  const shape = ((1 + Math.cos((2 * Math.PI * (hour - d.peakHour)) / 24)) / 2) ** 2;
  let perMin = d.baseRatePerMin + (d.peakRatePerMin - d.baseRatePerMin) * shape;
  const intoBurst = (((hour - d.burstHour) % 24) + 24) % 24;
  if (d.burstMinutes > 0 && intoBurst * 60 < d.burstMinutes) perMin += d.burstStreamers / d.burstMinutes;
  return perMin / 60;
}

export interface Arrival {
  /** Second of the window it arrives in. */
  at: number;
  durationS: number;
}

/** The streamers of one window, by thinning (rate's maximum found second by second). */
export function arrivals(d: Demand, seed: number): Arrival[] {
  const windowS = d.minutes * 60;
  let maxRate = 0;
  for (let s = 0; s < windowS; s++) maxRate = Math.max(maxRate, ratePerSecond(d, s));
  const random = mulberry32(seed);
  const out: Arrival[] = [];
  if (maxRate <= 0) return out;
  for (let t = 0; ; ) {
    t += -Math.log(1 - random()) / maxRate;
    if (t >= windowS) break;
    const accept = random() < ratePerSecond(d, t) / maxRate;
    const length = Math.exp(Math.log(d.streamMedianS) + d.streamSigma * normal(random));
    if (accept) out.push({ at: Math.floor(t), durationS: Math.max(1, Math.min(d.streamMaxS, Math.round(length))) });
  }
  return out;
}

/** Streams running at the end of each minute if every streamer got a Server at once: the demand. */
export function demandCurve(list: readonly Arrival[], minutes: number): number[] {
  const delta = new Array<number>(minutes + 1).fill(0);
  for (const a of list) {
    const from = Math.floor(a.at / 60); // running at the end of minute m (its last second): at < 60(m+1) ≤ at + duration
    const to = Math.min(minutes, Math.floor((a.at + a.durationS) / 60));
    if (from < to) {
      delta[from]! += 1;
      delta[to]! -= 1;
    }
  }
  const out: number[] = [];
  for (let m = 0, n = 0; m < minutes; m++) out.push((n += delta[m]!));
  return out;
}

/** The most streams running at once if every streamer got a Server at once. */
export function peakDemand(list: readonly Arrival[]): number {
  const events: Array<[number, number]> = [];
  for (const a of list) events.push([a.at, 1], [a.at + a.durationS, -1]);
  events.sort((x, y) => x[0] - y[0] || x[1] - y[1]); // an end before a start in the same second
  let n = 0;
  let peak = 0;
  for (const [, d] of events) peak = Math.max(peak, (n += d));
  return peak;
}

export type Policy =
  | { kind: 'fixed'; count: number }
  | { kind: 'step'; policy: StepPolicy }
  | { kind: 'cpu'; policy: CpuTargetTracking };

export interface Fleet {
  /** A task started becomes a free Server this many seconds later (uniform in [lo, hi]). */
  startLatencyS: [number, number];
  /** HAProxy's `timeout queue`. */
  queueTimeoutS: number;
  /** Age of the datapoint the policy acts on, seconds (publishing period + alarm evaluation). */
  metricLagS: number;
}

export const DEFAULT_FLEET: Fleet = { startLatencyS: [60, 90], queueTimeoutS: 10, metricLagS: 60 };

export interface MinuteSample {
  /** Tasks (running + starting), busy and free Servers, starting tasks and the desired count at the minute's end. */
  servers: number;
  busy: number;
  free: number;
  starting: number;
  desired: number;
  /** Streamers refused during the minute. */
  refused: number;
}

export interface SimResult {
  arrivals: number;
  placed: number;
  /** Placed after waiting in HAProxy's queue (at least one second). */
  waited: number;
  refused: number;
  maxWaitS: number;
  /** Task-minutes not carrying a stream (free or starting): what the headroom costs. */
  idleServerMinutes: number;
  serverMinutes: number;
  maxServers: number;
  /** Scaling activities (desired count changed). */
  scaleOuts: number;
  scaleIns: number;
  minutes: MinuteSample[];
}

/** The first desired count: the fixed count, or the policy's floor (at least its headroom). */
function initialCount(p: Policy): number {
  if (p.kind === 'fixed') return p.count;
  if (p.kind === 'cpu') return p.policy.min;
  return Math.min(p.policy.max, Math.max(p.policy.min, p.policy.headroom));
}

export function simulate(list: readonly Arrival[], minutes: number, policy: Policy, fleet: Fleet = DEFAULT_FLEET, seed = 1): SimResult {
  const windowS = minutes * 60;
  const random = mulberry32(seed ^ 0x5ca1ab1e);
  const [latLo, latHi] = fleet.startLatencyS;
  // Events by second: streams ending, tasks becoming ready. Streams may end after the window.
  const horizon = windowS + fleet.queueTimeoutS + latHi + 2;
  const ends = new Int32Array(horizon);
  const ready = new Int32Array(horizon);
  let desired = initialCount(policy);
  let free = desired;
  let busy = 0;
  let starting = 0;
  const queue: Arrival[] = []; // HAProxy's queue, FIFO
  let qHead = 0;
  const r: SimResult = { arrivals: 0, placed: 0, waited: 0, refused: 0, maxWaitS: 0, idleServerMinutes: 0, serverMinutes: 0, maxServers: desired, scaleOuts: 0, scaleIns: 0, minutes: [] };
  const datapoints: Array<{ free: number; cpu: number }> = [];
  const lagMinutes = Math.max(0, Math.round(fleet.metricLagS / 60));
  let stepState: StepState = initialStepState();
  let cpuState: CpuState = initialCpuState();
  let next = 0; // next arrival in `list`
  let refusedThisMinute = 0;
  let idleSeconds = 0;
  let taskSeconds = 0;

  const place = (a: Arrival, s: number) => {
    free--;
    busy++;
    r.placed++;
    if (s > a.at) {
      r.waited++;
      r.maxWaitS = Math.max(r.maxWaitS, s - a.at);
    }
    if (s + a.durationS < horizon) ends[s + a.durationS]!++;
  };

  // Arrivals stop at the window's end; the loop runs on until the queue is empty.
  for (let s = 0; s < windowS || qHead < queue.length; s++) {
    // Streams that end free their Server; tasks that finish starting become free Servers.
    busy -= ends[s]!;
    free += ends[s]!;
    starting -= ready[s]!;
    free += ready[s]!;
    // HAProxy hands queued streamers the free Servers first, then refuses those that waited too long.
    while (qHead < queue.length && free > 0) place(queue[qHead++]!, s);
    while (qHead < queue.length && s - queue[qHead]!.at >= fleet.queueTimeoutS) qHead++, r.refused++, refusedThisMinute++;
    if (qHead > 1024 && qHead * 2 > queue.length) queue.splice(0, qHead), (qHead = 0);
    // New streamers this second.
    while (s < windowS && next < list.length && list[next]!.at === s) {
      const a = list[next++]!;
      r.arrivals++;
      if (free > 0 && qHead === queue.length) place(a, s);
      else queue.push(a);
    }
    // ECS moves the service toward its desired count: it stops idle Servers (free first, then
    // starting ones; busy ones are protected) and starts tasks when below it.
    let excess = free + busy + starting - desired;
    if (excess > 0) {
      const stopFree = Math.min(excess, free);
      free -= stopFree;
      excess -= stopFree;
      for (let k = horizon - 1; excess > 0 && k > s; k--) {
        const n = Math.min(excess, ready[k]!);
        ready[k]! -= n;
        starting -= n;
        excess -= n;
      }
    } else if (excess < 0) {
      for (let i = 0; i < -excess; i++) {
        const at = s + latLo + Math.floor(random() * (latHi - latLo + 1));
        ready[at]!++;
        starting++;
      }
    }
    const tasks = free + busy + starting;
    taskSeconds += tasks;
    idleSeconds += free + starting;
    r.maxServers = Math.max(r.maxServers, tasks);

    // The end of a minute: a datapoint, and the policy acts on the one `lagMinutes` old.
    if (s < windowS && s % 60 === 59) {
      r.minutes.push({ servers: tasks, busy, free, starting, desired, refused: refusedThisMinute });
      refusedThisMinute = 0;
      datapoints.push({ free, cpu: policy.kind === 'cpu' ? serviceCpuPercent(policy.policy, busy, free + busy) : 0 });
      const dp = datapoints[datapoints.length - 1 - lagMinutes];
      if (dp !== undefined && policy.kind !== 'fixed') {
        const t = s + 1;
        let change: number;
        if (policy.kind === 'step') ({ state: stepState, change } = stepPolicy(policy.policy, stepState, { t, desired, free: dp.free }));
        else ({ state: cpuState, change } = cpuTargetTracking(policy.policy, cpuState, { t, desired, cpuPercent: dp.cpu }));
        if (change > 0) r.scaleOuts++;
        if (change < 0) r.scaleIns++;
        desired += change;
      }
    }
  }
  r.idleServerMinutes = Math.round(idleSeconds / 60);
  r.serverMinutes = Math.round(taskSeconds / 60);
  return r;
}
