/**
 * How many Server tasks the Server ECS service should run: the decision the scaling stack (issue 17)
 * makes with Application Auto Scaling, as pure functions of (state, one observation a minute) →
 * (new state, change of the desired count). No I/O, no clock: the caller passes the time in. The
 * simulator (scaling-sim.ts) and the tests drive them minute by minute.
 *
 * - stepPolicy: ours, step scaling on the Proxies' `ServersFree` metric (free Servers in the fleet).
 * - cpuTargetTracking: what a user sets up by default, ECS service average CPU target tracking.
 * - a fixed count ("no policy") needs no function: its change is always 0.
 */

export interface StepPolicy {
  /** Free Servers to keep: scale out when fewer are free. */
  headroom: number;
  min: number;
  max: number;
  /** Scale out by ceil(shortfall × stepFactor) tasks, shortfall = headroom − free (in bands: scaleOutBands). */
  stepFactor: number;
  /** After a scale-out, only a larger step adds more (by the difference) until this many seconds pass. */
  outCooldownS: number;
  /** Scale in when free > headroom + inMargin … */
  inMargin: number;
  /** … for this many consecutive one-minute datapoints … */
  inEvaluationMinutes: number;
  /** … by this many tasks (task protection makes ECS stop only idle ones) … */
  inStep: number;
  /** … at most once per this many seconds. */
  inCooldownS: number;
}

/** The starting point of the bench's grid (the first guess); the stack ships RECOMMENDED_STEP_POLICY. */
export const STEP_POLICY_DEFAULTS: Omit<StepPolicy, 'headroom' | 'min' | 'max' | 'stepFactor'> = {
  outCooldownS: 60,
  inMargin: 2,
  inEvaluationMinutes: 15,
  inStep: 1,
  inCooldownS: 300,
};

/**
 * The defaults the scaling stack ships, chosen by bench section 9 (bench/README.md): over 10 simulated
 * days (a 30-streamer burst in 5 minutes on an evening peak of ~2 arrivals a minute) the least idle
 * cost with no streamer refused and none waiting. min/max are the bounds the bench ran with.
 */
export const RECOMMENDED_STEP_POLICY: StepPolicy = {
  headroom: 28,
  min: 2,
  max: 500,
  stepFactor: 2,
  outCooldownS: 180,
  inMargin: 4,
  inEvaluationMinutes: 5,
  inStep: 5,
  inCooldownS: 300,
};

/** Throws on settings the stack must not ship, e.g. a scale-in that lands below the headroom. */
export function validateStepPolicy(p: StepPolicy): void {
  const problems: string[] = [];
  if (!(Number.isInteger(p.min) && p.min >= 0)) problems.push('min must be an integer ≥ 0');
  if (!(Number.isInteger(p.max) && p.max >= p.min)) problems.push('max must be an integer ≥ min');
  if (!(Number.isInteger(p.headroom) && p.headroom >= 1)) problems.push('headroom must be an integer ≥ 1');
  if (!(p.stepFactor > 0)) problems.push('stepFactor must be > 0');
  if (!(Number.isInteger(p.inStep) && p.inStep >= 1)) problems.push('inStep must be an integer ≥ 1');
  if (!(Number.isInteger(p.inMargin) && p.inMargin >= 0)) problems.push('inMargin must be an integer ≥ 0');
  // free ≥ headroom + inMargin + 1 before a scale-in, so free − inStep ≥ headroom needs this:
  if (p.inStep > p.inMargin + 1) problems.push('inStep must be ≤ inMargin + 1, or a scale-in drops free Servers below the headroom');
  if (!(Number.isInteger(p.inEvaluationMinutes) && p.inEvaluationMinutes >= 1)) problems.push('inEvaluationMinutes must be an integer ≥ 1');
  if (!(p.outCooldownS >= 0 && p.inCooldownS >= 0)) problems.push('cooldowns must be ≥ 0');
  if (problems.length > 0) throw new Error(`invalid scaling policy: ${problems.join('; ')}`);
}

/** Application Auto Scaling's quota of step adjustments per step scaling policy (adjustable, 20 by default). */
export const MAX_STEP_ADJUSTMENTS = 20;

/** One scale-out band: shortfalls from..to (to undefined: and above) add `adjustment` tasks. */
export interface ScaleOutBand {
  from: number;
  to?: number;
  adjustment: number;
}

/**
 * The scale-out steps: ceil(shortfall × stepFactor) for each shortfall 1..headroom. When that is more
 * than MAX_STEP_ADJUSTMENTS bands, the shortfalls are grouped in bands of equal width, each adding
 * what its largest shortfall needs. Adjacent bands that add the same are merged. The policy and the
 * stack both use these bands, so the simulator runs exactly what the stack deploys.
 */
export function scaleOutBands(p: Pick<StepPolicy, 'headroom' | 'stepFactor'>): ScaleOutBand[] {
  const width = Math.ceil(p.headroom / MAX_STEP_ADJUSTMENTS);
  const bands: ScaleOutBand[] = [];
  for (let from = 1; from <= p.headroom; from += width) {
    const to = Math.min(p.headroom, from + width - 1);
    const adjustment = Math.ceil(to * p.stepFactor);
    const last = bands.at(-1);
    if (last && last.adjustment === adjustment) last.to = to;
    else bands.push({ from, to, adjustment });
  }
  delete bands.at(-1)!.to; // the last band is open: a negative or missing count still scales out
  return bands;
}

/** The scale-out step for `free` Servers (0 when there is no shortfall). */
export function scaleOutStep(p: Pick<StepPolicy, 'headroom' | 'stepFactor'>, free: number): number {
  const shortfall = p.headroom - free;
  if (shortfall <= 0) return 0;
  return scaleOutBands(p).find((b) => b.to === undefined || shortfall <= b.to)!.adjustment;
}

export interface StepState {
  /** The last scale-out: when (s) and how many tasks it counted as added. */
  lastOut?: { at: number; adjustment: number };
  /** When the last scale-in happened (s). */
  lastInAt?: number;
  /** Consecutive datapoints above the scale-in threshold (the scale-in alarm's evaluation window). */
  aboveMinutes: number;
}

export const initialStepState = (): StepState => ({ aboveMinutes: 0 });

export interface Observation {
  /** Seconds since any fixed origin. */
  t: number;
  /** The service's desired count now (Application Auto Scaling's "current capacity"). */
  desired: number;
}

export interface Decision<S> {
  state: S;
  /** Change of the desired count, already kept within [min, max]. */
  change: number;
}

const clampChange = (desired: number, change: number, min: number, max: number) => Math.min(max, Math.max(min, desired + change)) - desired;

/**
 * One minute of our policy, as Application Auto Scaling runs it: an alarm in ALARM state invokes its
 * step policy once a minute. Scale-out (free < headroom, one datapoint): add ceil(shortfall ×
 * stepFactor); within outCooldownS of the last scale-out only a larger step adds, by the difference
 * (AAS counts the capacity the cooldown's scale-out added). Scale-in (free > headroom + inMargin for
 * inEvaluationMinutes datapoints): remove inStep, at most once per inCooldownS; a scale-out is never
 * held back by a scale-in's cooldown.
 */
export function stepPolicy(p: StepPolicy, state: StepState, obs: Observation & { free: number }): Decision<StepState> {
  const above = obs.free > p.headroom + p.inMargin ? state.aboveMinutes + 1 : 0;
  const next: StepState = { ...state, aboveMinutes: above };
  const step = scaleOutStep(p, obs.free);
  if (step > 0) {
    const cooling = state.lastOut !== undefined && obs.t - state.lastOut.at < p.outCooldownS;
    const add = cooling ? Math.max(0, step - state.lastOut!.adjustment) : step;
    const change = clampChange(obs.desired, add, p.min, p.max);
    if (change > 0) next.lastOut = { at: obs.t, adjustment: cooling ? step : change };
    return { state: next, change };
  }
  if (above >= p.inEvaluationMinutes && (state.lastInAt === undefined || obs.t - state.lastInAt >= p.inCooldownS)) {
    const change = clampChange(obs.desired, -p.inStep, p.min, p.max);
    if (change < 0) next.lastInAt = obs.t;
    return { state: next, change };
  }
  // Outside [min, max] (e.g. the bounds changed): back within them.
  return { state: next, change: clampChange(obs.desired, 0, p.min, p.max) };
}

/**
 * The policy as the stack writes it: two CloudWatch alarms on ServersFree (one-minute period) and two
 * StepScaling policies (ChangeInCapacity). Step bounds are relative to the alarm's threshold, as
 * Application Auto Scaling wants them, on half-integers so an integer count falls inside a band
 * whichever end is open: shortfalls from..to (free = headroom − shortfall) lie in
 * (−to − 0.5, −from + 0.5); the first band's upper bound is 0 and the last has no lower bound.
 */
export function stepScalingSettings(p: StepPolicy) {
  validateStepPolicy(p);
  const steps = scaleOutBands(p).map((b, i) => ({
    ...(b.to !== undefined && { lower: -b.to - 0.5 }),
    upper: i === 0 ? 0 : -b.from + 0.5,
    adjustment: b.adjustment,
  }));
  return {
    min: p.min,
    max: p.max,
    scaleOut: { comparison: 'LessThanThreshold', threshold: p.headroom, evaluationPeriods: 1, cooldownS: p.outCooldownS, steps },
    scaleIn: {
      comparison: 'GreaterThanThreshold',
      threshold: p.headroom + p.inMargin,
      evaluationPeriods: p.inEvaluationMinutes,
      cooldownS: p.inCooldownS,
      steps: [{ lower: 0, adjustment: -p.inStep }],
    },
  };
}

// ---- CPU target tracking: what a user sets up by default ----

export interface CpuTargetTracking {
  /** ECSServiceAverageCPUUtilization target, %. */
  targetPercent: number;
  min: number;
  max: number;
  /** A busy Server's CPU (one stream transcoding) and an idle one's, %. */
  busyCpuPercent: number;
  idleCpuPercent: number;
  /** The alarms AAS creates: 3 datapoints above the target to scale out, 15 below 90 % of it to scale in. */
  outEvaluationMinutes: number;
  inEvaluationMinutes: number;
  /** AAS's defaults for ECS when none are set: 300 s each. */
  outCooldownS: number;
  inCooldownS: number;
}

export const CPU_TARGET_TRACKING_DEFAULTS: Omit<CpuTargetTracking, 'min' | 'max'> = {
  targetPercent: 60,
  busyCpuPercent: 80,
  idleCpuPercent: 3,
  outEvaluationMinutes: 3,
  inEvaluationMinutes: 15,
  outCooldownS: 300,
  inCooldownS: 300,
};

/** The service's average CPU with `busy` of `running` Servers carrying a stream (0 with none running). */
export function serviceCpuPercent(p: Pick<CpuTargetTracking, 'busyCpuPercent' | 'idleCpuPercent'>, busy: number, running: number): number {
  if (running <= 0) return 0;
  return (busy * p.busyCpuPercent + (running - busy) * p.idleCpuPercent) / running;
}

export interface CpuState {
  highMinutes: number;
  lowMinutes: number;
  lastOutAt?: number;
  lastInAt?: number;
}

export const initialCpuState = (): CpuState => ({ highMinutes: 0, lowMinutes: 0 });

/**
 * One minute of target tracking: after outEvaluationMinutes datapoints above the target, set the
 * desired count to ceil(desired × cpu / target) (at most once per outCooldownS); after
 * inEvaluationMinutes below 90 % of the target, the same formula scales in (at most once per
 * inCooldownS). Simplified: a scale-out cooldown simply blocks further scale-outs.
 */
export function cpuTargetTracking(p: CpuTargetTracking, state: CpuState, obs: Observation & { cpuPercent: number }): Decision<CpuState> {
  const next: CpuState = {
    ...state,
    highMinutes: obs.cpuPercent > p.targetPercent ? state.highMinutes + 1 : 0,
    lowMinutes: obs.cpuPercent < 0.9 * p.targetPercent ? state.lowMinutes + 1 : 0,
  };
  const wanted = Math.ceil((obs.desired * obs.cpuPercent) / p.targetPercent);
  if (next.highMinutes >= p.outEvaluationMinutes && (state.lastOutAt === undefined || obs.t - state.lastOutAt >= p.outCooldownS)) {
    const change = clampChange(obs.desired, Math.max(1, wanted - obs.desired), p.min, p.max);
    if (change > 0) next.lastOutAt = obs.t;
    return { state: next, change };
  }
  if (next.lowMinutes >= p.inEvaluationMinutes && (state.lastInAt === undefined || obs.t - state.lastInAt >= p.inCooldownS)) {
    const change = clampChange(obs.desired, Math.min(0, wanted - obs.desired), p.min, p.max);
    if (change < 0) next.lastInAt = obs.t;
    return { state: next, change };
  }
  return { state: next, change: clampChange(obs.desired, 0, p.min, p.max) };
}
