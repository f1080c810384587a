import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  CPU_TARGET_TRACKING_DEFAULTS,
  cpuTargetTracking,
  initialCpuState,
  initialStepState,
  MAX_STEP_ADJUSTMENTS,
  RECOMMENDED_STEP_POLICY,
  scaleOutBands,
  scaleOutStep,
  serviceCpuPercent,
  stepPolicy,
  stepScalingSettings,
  validateStepPolicy,
  type CpuState,
  type CpuTargetTracking,
  type StepPolicy,
  type StepState,
} from '../src/core/scaling.js';
import {
  arrivals,
  DEFAULT_DEMAND,
  DEFAULT_FLEET,
  demandCurve,
  mulberry32,
  peakDemand,
  ratePerSecond,
  simulate,
  type Arrival,
  type Policy,
  type SimResult,
} from '../src/core/scaling-sim.js';

const policy = (over: Partial<StepPolicy> = {}): StepPolicy => ({
  headroom: 4,
  min: 2,
  max: 10,
  stepFactor: 1,
  outCooldownS: 180,
  inMargin: 2,
  inEvaluationMinutes: 3,
  inStep: 1,
  inCooldownS: 300,
  ...over,
});

/** Drives stepPolicy over [t, free] minutes, applying each change; returns the changes. */
function drive(p: StepPolicy, desired: number, minutes: Array<[number, number]>, state: StepState = initialStepState()) {
  const changes: number[] = [];
  for (const [t, free] of minutes) {
    const d = stepPolicy(p, state, { t, desired, free });
    state = d.state;
    desired += d.change;
    changes.push(d.change);
  }
  return { changes, desired, state };
}

describe('step policy on ServersFree', () => {
  test('the scale-out step is ceil(shortfall × stepFactor)', () => {
    const p = policy({ headroom: 6, stepFactor: 1.5 });
    const table: Array<[free: number, step: number]> = [[7, 0], [6, 0], [5, 2], [4, 3], [3, 5], [2, 6], [1, 8], [0, 9], [-1, 9]];
    for (const [free, step] of table) assert.equal(scaleOutStep(p, free), step, `free ${free}`);
    assert.deepEqual(scaleOutBands({ headroom: 3, stepFactor: 1 }), [{ from: 1, to: 1, adjustment: 1 }, { from: 2, to: 2, adjustment: 2 }, { from: 3, adjustment: 3 }]);
    // Equal adjacent steps merge: 0.5 → 1, 1, 2, 2.
    assert.deepEqual(scaleOutBands({ headroom: 4, stepFactor: 0.5 }), [{ from: 1, to: 2, adjustment: 1 }, { from: 3, adjustment: 2 }]);
  });

  test('more shortfalls than AAS allows step adjustments: bands of equal width, each sized for its largest shortfall', () => {
    const bands = scaleOutBands({ headroom: 28, stepFactor: 2 });
    assert.equal(bands.length, 14);
    const table: Array<[free: number, step: number]> = [[27, 4], [26, 4], [25, 8], [1, 56], [0, 56]];
    for (const [free, step] of table) assert.equal(scaleOutStep({ headroom: 28, stepFactor: 2 }, free), step, `free ${free}`);
    for (const headroom of [1, 5, 20, 21, 28, 40, 41, 100, 333]) assert.ok(scaleOutBands({ headroom, stepFactor: 1 }).length <= MAX_STEP_ADJUSTMENTS, `headroom ${headroom}`);
  });

  test("the stack's step adjustments are contiguous and put every integer free count in the band the policy uses", () => {
    for (const p of [RECOMMENDED_STEP_POLICY, policy({ headroom: 6, stepFactor: 1.5 }), policy({ headroom: 45, stepFactor: 1, inMargin: 3 })]) {
      const { scaleOut, scaleIn } = stepScalingSettings(p);
      assert.equal(scaleOut.threshold, p.headroom);
      assert.equal(scaleOut.steps[0]!.upper, 0);
      assert.equal(scaleOut.steps.at(-1)!.lower, undefined);
      for (let i = 1; i < scaleOut.steps.length; i++) assert.equal(scaleOut.steps[i]!.upper, scaleOut.steps[i - 1]!.lower);
      for (let free = 0; free < p.headroom; free++) {
        const diff = free - p.headroom;
        // Whichever end AAS keeps open, a half-integer bound never meets an integer difference.
        const band = scaleOut.steps.find((s) => (s.lower === undefined || diff > s.lower) && diff < s.upper);
        assert.equal(band?.adjustment, scaleOutStep(p, free), `headroom ${p.headroom}, free ${free}`);
      }
      assert.deepEqual(scaleIn, { comparison: 'GreaterThanThreshold', threshold: p.headroom + p.inMargin, evaluationPeriods: p.inEvaluationMinutes, cooldownS: p.inCooldownS, steps: [{ lower: 0, adjustment: -p.inStep }] });
    }
  });

  test('scale-out cooldown: within it only a larger step adds, by the difference; after it, the full step', () => {
    const { changes, desired } = drive(policy(), 5, [
      [60, 1], // shortfall 3 → +3, cooldown until 240
      [120, 1], // same step, cooling: nothing
      [180, 0], // step 4 > 3, cooling: +1 (the 3 already added count)
      [240, 0], // step 4, cooling since 180: nothing
      [300, 0], // still cooling (180 + 180 = 360)
      [360, 0], // cooldown over: +4, clamped to max 10 → +1
    ]);
    assert.deepEqual(changes, [3, 0, 1, 0, 0, 1]);
    assert.equal(desired, 10);
    assert.deepEqual(drive(policy({ outCooldownS: 60 }), 2, [[60, 3], [120, 3], [180, 3]]).changes, [1, 1, 1]);
  });

  test('scale-in only after inEvaluationMinutes consecutive datapoints above headroom + margin, then at most once per cooldown', () => {
    const { changes } = drive(policy(), 8, [
      [60, 7], [120, 7], [180, 7], // 3rd datapoint above 6: −1
      [240, 7], // above, but cooling until 480
      [300, 6], // not above (6 = headroom + margin): the window restarts
      [360, 7], [420, 7], [480, 7], // 3 again, and 480 − 180 ≥ 300: −1
      [540, 7], // cooling
    ]);
    assert.deepEqual(changes, [0, 0, -1, 0, 0, 0, 0, -1, 0]);
    // A scale-in's cooldown never holds back a scale-out.
    assert.deepEqual(drive(policy(), 8, [[60, 7], [120, 7], [180, 7], [240, 3]]).changes, [0, 0, -1, 1]);
  });

  test('never below min or above max; a count outside the bounds is brought back', () => {
    assert.deepEqual(drive(policy({ min: 3 }), 3, [[60, 9], [120, 9], [180, 9], [540, 9]]).changes, [0, 0, 0, 0]);
    assert.deepEqual(drive(policy({ max: 6 }), 5, [[60, 0]]).changes, [1]);
    assert.deepEqual(drive(policy({ max: 6 }), 9, [[60, 5]]).changes, [-3]);
    assert.deepEqual(drive(policy({ min: 4 }), 1, [[60, 5]]).changes, [3]);
    assert.equal(stepPolicy(policy({ max: 6 }), initialStepState(), { t: 60, desired: 6, free: 0 }).state.lastOut, undefined, 'no scaling activity at max: no cooldown');
  });

  test('settings the stack must not ship are refused', () => {
    validateStepPolicy(RECOMMENDED_STEP_POLICY);
    assert.throws(() => validateStepPolicy(policy({ inStep: 4, inMargin: 2 })), /inStep must be ≤ inMargin \+ 1/);
    assert.throws(() => validateStepPolicy(policy({ min: 5, max: 4 })), /max must be an integer ≥ min/);
    assert.throws(() => validateStepPolicy(policy({ headroom: 0 })), /headroom/);
    assert.throws(() => stepScalingSettings(policy({ stepFactor: 0 })), /stepFactor/);
  });
});

describe('CPU target tracking (the baseline)', () => {
  const cpu: CpuTargetTracking = { ...CPU_TARGET_TRACKING_DEFAULTS, min: 2, max: 100, busyCpuPercent: 80, idleCpuPercent: 0 };

  test('service CPU = busy/total × busy CPU + idle/total × idle CPU', () => {
    assert.equal(serviceCpuPercent(cpu, 3, 4), 60);
    assert.equal(serviceCpuPercent({ busyCpuPercent: 80, idleCpuPercent: 4 }, 1, 2), 42);
    assert.equal(serviceCpuPercent(cpu, 0, 0), 0);
  });

  test('out after 3 datapoints above the target to ceil(desired × cpu / target), then a 300 s cooldown; in after 15 below 90 % of it', () => {
    let state: CpuState = initialCpuState();
    let desired = 10;
    const changes: number[] = [];
    const minute = (t: number, cpuPercent: number) => {
      const d = cpuTargetTracking(cpu, state, { t, desired, cpuPercent });
      state = d.state;
      desired += d.change;
      changes.push(d.change);
    };
    [60, 120, 180, 240, 300, 360, 420, 480].forEach((t) => minute(t, 78)); // 10 × 78 / 60 = 13
    assert.deepEqual(changes, [0, 0, 3, 0, 0, 0, 0, 4]); // 13 × 78 / 60 = 16.9 → 17 after the cooldown
    changes.length = 0;
    for (let i = 1; i <= 16; i++) minute(480 + 60 * i, 30); // 17 × 30 / 60 = 8.5 → 9
    assert.deepEqual(changes, [...new Array(14).fill(0), -8, 0]);
  });
});

describe('simulator', () => {
  test('mulberry32 is seeded and uniform in [0, 1)', () => {
    const a = mulberry32(1), b = mulberry32(1), c = mulberry32(2);
    const xs = Array.from({ length: 1000 }, () => a());
    assert.deepEqual(xs.slice(0, 3), [b(), b(), b()]);
    assert.notEqual(xs[0], c());
    assert.ok(xs.every((x) => x >= 0 && x < 1));
    assert.ok(Math.abs(xs.reduce((s, x) => s + x, 0) / xs.length - 0.5) < 0.05);
  });

  test('arrivals follow the rate curve: as many as its integral (within 5 σ), sorted, lengths within bounds', () => {
    const list = arrivals(DEFAULT_DEMAND, 3);
    let expected = 0;
    for (let s = 0; s < DEFAULT_DEMAND.minutes * 60; s++) expected += ratePerSecond(DEFAULT_DEMAND, s);
    assert.ok(Math.abs(list.length - expected) < 5 * Math.sqrt(expected), `${list.length} arrivals, ${expected.toFixed(0)} expected`);
    assert.ok(list.every((a, i) => i === 0 || list[i - 1]!.at <= a.at));
    assert.ok(list.every((a) => a.durationS >= 1 && a.durationS <= DEFAULT_DEMAND.streamMaxS));
    const lengths = list.map((a) => a.durationS).sort((x, y) => x - y);
    const median = lengths[Math.floor(lengths.length / 2)]!;
    assert.ok(median > 30 * 60 && median < 50 * 60, `median ${median} s`);
    assert.deepEqual(arrivals(DEFAULT_DEMAND, 3), list);
  });

  test('demand curve and peak of a hand-made list', () => {
    const list: Arrival[] = [{ at: 0, durationS: 120 }, { at: 30, durationS: 60 }, { at: 59, durationS: 2 }, { at: 100, durationS: 10 }];
    // Sampled at each minute's last second, as the simulator samples: at 59 the first three run; at 119 only the first.
    assert.deepEqual(demandCurve(list, 3), [3, 1, 0]);
    assert.equal(peakDemand(list), 3);
  });

  test("HAProxy's queue: a streamer waits up to 10 s for a free Server, else is refused", () => {
    const fixed: Policy = { kind: 'fixed', count: 1 };
    let r = simulate([{ at: 0, durationS: 5 }, { at: 1, durationS: 100 }, { at: 2, durationS: 100 }], 5, fixed);
    assert.deepEqual([r.arrivals, r.placed, r.waited, r.refused, r.maxWaitS], [3, 2, 1, 1, 4]);
    r = simulate([{ at: 0, durationS: 11 }, { at: 1, durationS: 5 }], 5, fixed);
    assert.deepEqual([r.placed, r.waited, r.refused, r.maxWaitS], [2, 1, 0, 10]);
    r = simulate([{ at: 0, durationS: 12 }, { at: 1, durationS: 5 }], 5, fixed);
    assert.deepEqual([r.placed, r.refused], [1, 1]);
  });

  test('a Server added is free 60–90 s after the scale-out, which acts on a datapoint a minute old', () => {
    const p: Policy = { kind: 'step', policy: policy({ headroom: 4, min: 0, max: 20, stepFactor: 1 }) };
    const streams: Arrival[] = [0, 0, 0, 0].map((at) => ({ at, durationS: 3600 }));
    const r = simulate(streams, 6, p);
    const m = r.minutes.map((x) => [x.servers, x.busy, x.free, x.starting]);
    assert.deepEqual(m.slice(0, 4), [
      [4, 4, 0, 0], // minute 0: all 4 taken; its datapoint says free 0
      [4, 4, 0, 0], // minute 1 (sampled before the policy acts): then the policy sees minute 0's 0 free → +4
      [8, 4, 0, 4], // the 4 tasks start at 120 s …
      [8, 4, 4, 0], // … and are free Servers 60–90 s later
    ]);
  });

  const small = { ...DEFAULT_DEMAND, minutes: 240, startHour: 16 }; // 16:00–20:00, the burst at 18:30
  const runs = (seed: number, demand = small) => {
    const list = arrivals(demand, seed);
    const curve = demandCurve(list, demand.minutes);
    const average = Math.ceil(curve.reduce((a, b) => a + b, 0) / curve.length);
    const policies: Record<string, Policy> = {
      fixed: { kind: 'fixed', count: average },
      peak: { kind: 'fixed', count: peakDemand(list) },
      cpu: { kind: 'cpu', policy: { ...CPU_TARGET_TRACKING_DEFAULTS, min: 2, max: 500 } },
      ours: { kind: 'step', policy: RECOMMENDED_STEP_POLICY },
    };
    return { list, curve, results: Object.fromEntries(Object.entries(policies).map(([k, p]) => [k, simulate(list, demand.minutes, p, DEFAULT_FLEET, seed)])) as Record<string, SimResult> };
  };
  const figures = (r: SimResult) => [r.arrivals, r.placed, r.waited, r.refused, r.idleServerMinutes, r.maxServers, r.scaleOuts, r.scaleIns];

  test('a fixed seed gives a fixed table (a regression check: the simulator is deterministic)', () => {
    const { list, results } = runs(7);
    assert.equal(list.length, 458);
    // arrivals, placed, waited, refused, idle Server-minutes, Servers max, scale-outs, scale-ins
    assert.deepEqual(figures(results.fixed!), [458, 365, 15, 93, 3082, 74, 0, 0]);
    assert.deepEqual(figures(results.cpu!), [458, 411, 3, 47, 5886, 161, 27, 2]);
    assert.deepEqual(figures(results.ours!), [458, 458, 0, 0, 7727, 156, 28, 13]);
    assert.deepEqual(figures(runs(7).results.ours!), figures(results.ours!));
  });

  test('invariants: busy ≤ Servers, refused + placed = arrivals, placed streams run in full; ours refuses no more than no policy', () => {
    for (const seed of [1, 2, 3]) {
      const { list, curve, results } = runs(seed, DEFAULT_DEMAND);
      for (const [name, r] of Object.entries(results)) {
        assert.equal(r.arrivals, list.length, `${name} seed ${seed}`);
        assert.equal(r.refused + r.placed, r.arrivals, `${name} seed ${seed}`);
        assert.ok(r.waited <= r.placed);
        assert.equal(r.minutes.length, DEFAULT_DEMAND.minutes);
        for (const m of r.minutes) {
          assert.ok(m.busy <= m.servers && m.busy >= 0 && m.free >= 0 && m.starting >= 0, `${name} seed ${seed}: ${JSON.stringify(m)}`);
          assert.equal(m.free + m.busy + m.starting, m.servers);
        }
        assert.ok(r.idleServerMinutes <= r.serverMinutes);
      }
      // No one waited with a count sized for the peak: every minute's busy Servers are the demand,
      // so no placed stream was cut short.
      assert.equal(results.peak!.refused + results.peak!.waited, 0);
      assert.deepEqual(results.peak!.minutes.map((m) => m.busy), curve);
      assert.ok(results.ours!.refused <= results.fixed!.refused, `seed ${seed}`);
      assert.equal(results.ours!.refused, 0, `seed ${seed}`);
    }
  });
});
