// Section 9: scaling the Server fleet (issue 17, item 3). No processes: the pure policy
// (src/core/scaling.ts) and the seeded simulator (src/core/scaling-sim.ts) run a day of streamers per
// seed under no policy (a fixed count), CPU target tracking and ours over a grid of settings; the
// section picks the defaults the scaling stack ships (0 refused and 0 waited on every day, at the least idle cost)
// and plots one day (bench/results/scaling-<stamp>.png).
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  CPU_TARGET_TRACKING_DEFAULTS,
  RECOMMENDED_STEP_POLICY,
  STEP_POLICY_DEFAULTS,
  stepScalingSettings,
  validateStepPolicy,
  type StepPolicy,
} from '../../src/core/scaling.js';
import { arrivals, DEFAULT_DEMAND, DEFAULT_FLEET, demandCurve, peakDemand, simulate, type Arrival, type Policy, type SimResult } from '../../src/core/scaling-sim.js';
import { Canvas, type Rgb } from '../png.js';
import { round, yesNo, type BenchContext } from '../lib.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
/** bench/results in the source tree (this file runs from dist/bench/sections/). */
const RESULTS = path.basename(path.resolve(HERE, '../..')) === 'dist' ? path.resolve(HERE, '../../../bench/results') : path.resolve(HERE, '../results');

const SEEDS = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
const BOUNDS = { min: 2, max: 500 };
const HEADROOMS = [4, 8, 12, 16, 20, 24, 28, 32, 40];
const STEP_FACTORS = [1, 1.5, 2, 3];
const OUT_COOLDOWNS = [60, 120, 180, 240];
const IN_EVALUATIONS = [5, 10, 15];
const IN_MARGINS = [2, 4];
const IN_STEPS = [1, 2, 3, 5];
const IN_COOLDOWNS = [60, 120, 300];

interface Summary {
  /** Over all seeds. */
  refused: number;
  refusedWorst: number;
  waited: number;
  arrivals: number;
  /** Means per day (per seed). */
  idle: number;
  serverMinutes: number;
  scaleOuts: number;
  scaleIns: number;
  maxServers: number;
}

function summarize(results: SimResult[]): Summary {
  const mean = (f: (r: SimResult) => number) => round(results.reduce((a, r) => a + f(r), 0) / results.length, 0);
  return {
    refused: results.reduce((a, r) => a + r.refused, 0),
    refusedWorst: Math.max(...results.map((r) => r.refused)),
    waited: results.reduce((a, r) => a + r.waited, 0),
    arrivals: results.reduce((a, r) => a + r.arrivals, 0),
    idle: mean((r) => r.idleServerMinutes),
    serverMinutes: mean((r) => r.serverMinutes),
    scaleOuts: mean((r) => r.scaleOuts),
    scaleIns: mean((r) => r.scaleIns),
    maxServers: Math.max(...results.map((r) => r.maxServers)),
  };
}

/** Qualifies: no streamer refused, none even waited in HAProxy's queue, on any day (the goal). */
const clean = (s: Summary) => s.refused === 0 && s.waited === 0;

/** The cheapest (least idle) setting that qualifies; undefined when none does. */
function best<T extends { summary: Summary }>(rows: T[]): T | undefined {
  return rows.filter((r) => clean(r.summary)).sort((a, b) => a.summary.idle - b.summary.idle)[0];
}

const outSettings = (p: StepPolicy) => `headroom ${p.headroom}, step ceil(shortfall × ${p.stepFactor}), out cooldown ${p.outCooldownS} s`;
const inSettings = (p: StepPolicy) =>
  `in: free > headroom + ${p.inMargin} for ${p.inEvaluationMinutes} min → −${p.inStep}, cooldown ${p.inCooldownS} s`;

export async function runScaling(ctx: BenchContext) {
  const demand = DEFAULT_DEMAND;
  const fleet = DEFAULT_FLEET;
  const days: Array<{ seed: number; list: Arrival[]; curve: number[]; average: number; peak: number }> = SEEDS.map((seed) => {
    const list = arrivals(demand, seed);
    const curve = demandCurve(list, demand.minutes);
    return { seed, list, curve, average: curve.reduce((a, b) => a + b, 0) / curve.length, peak: peakDemand(list) };
  });
  const run = (policyFor: (day: (typeof days)[number]) => Policy) => days.map((d) => simulate(d.list, demand.minutes, policyFor(d), fleet, d.seed));
  const step = (p: StepPolicy): Policy => ({ kind: 'step', policy: p });

  // Baselines.
  const cpuPolicy = { ...CPU_TARGET_TRACKING_DEFAULTS, ...BOUNDS };
  const fixedAverage = run((d) => ({ kind: 'fixed', count: Math.ceil(d.average) }));
  const fixedPeak = run((d) => ({ kind: 'fixed', count: d.peak }));
  const cpu = run(() => ({ kind: 'cpu', policy: cpuPolicy }));
  ctx.progress('scaling: baselines done');

  // Stage 1: scale-out (headroom × step × out cooldown), scale-in at its starting defaults.
  const outGrid: Array<{ policy: StepPolicy; summary: Summary }> = [];
  for (const outCooldownS of OUT_COOLDOWNS)
    for (const stepFactor of STEP_FACTORS)
      for (const headroom of HEADROOMS) {
        const policy: StepPolicy = { ...STEP_POLICY_DEFAULTS, ...BOUNDS, headroom, stepFactor, outCooldownS };
        outGrid.push({ policy, summary: summarize(run(() => step(policy))) });
      }
  const outBest = best(outGrid);
  if (!outBest) throw new Error('no scale-out setting of the grid placed every streamer without a wait on every day');
  ctx.progress(`scaling: ${outGrid.length} scale-out settings done`);

  // Stage 2: scale-in at the best scale-out.
  const inGrid: Array<{ policy: StepPolicy; summary: Summary }> = [];
  for (const inEvaluationMinutes of IN_EVALUATIONS)
    for (const inMargin of IN_MARGINS)
      for (const inStep of IN_STEPS)
        for (const inCooldownS of IN_COOLDOWNS) {
          if (inStep > inMargin + 1) continue; // validateStepPolicy: a scale-in must not land below the headroom
          const policy: StepPolicy = { ...outBest.policy, inEvaluationMinutes, inMargin, inStep, inCooldownS };
          validateStepPolicy(policy);
          inGrid.push({ policy, summary: summarize(run(() => step(policy))) });
        }
  const chosen = best(inGrid) ?? outBest;
  const chosenRuns = run(() => step(chosen.policy));
  const shipped = run(() => step(RECOMMENDED_STEP_POLICY));
  ctx.progress(`scaling: ${inGrid.length} scale-in settings done`);

  const arrivalsAll = fixedAverage.reduce((a, r) => a + r.arrivals, 0);
  const sameSettings = (a: StepPolicy, b: StepPolicy) =>
    (['headroom', 'stepFactor', 'outCooldownS', 'inMargin', 'inEvaluationMinutes', 'inStep', 'inCooldownS'] as const).every((k) => a[k] === b[k]);
  const compared: Array<[string, string, Summary]> = [
    ['no policy (fixed, sized for the average)', `ceil(mean demand of the day): ${days.map((d) => Math.ceil(d.average)).join(', ')}`, summarize(fixedAverage)],
    ['fixed, sized for the peak (knows the day in advance)', `peak demand of the day: ${days.map((d) => d.peak).join(', ')}`, summarize(fixedPeak)],
    [
      'CPU target tracking (the usual default)',
      `ECSServiceAverageCPUUtilization ${cpuPolicy.targetPercent} %, busy Server ${cpuPolicy.busyCpuPercent} % / idle ${cpuPolicy.idleCpuPercent} %, out after ${cpuPolicy.outEvaluationMinutes} min, in after ${cpuPolicy.inEvaluationMinutes} min, cooldowns ${cpuPolicy.outCooldownS}/${cpuPolicy.inCooldownS} s`,
      summarize(cpu),
    ],
    ['ours, best scale-out, starting scale-in', `${outSettings(outBest.policy)}; ${inSettings(outBest.policy)}`, outBest.summary],
    ['ours, chosen (the stack\'s defaults)', `${outSettings(chosen.policy)}; ${inSettings(chosen.policy)}`, summarize(chosenRuns)],
  ];
  const row = (name: string, settings: string, s: Summary) => [
    name,
    settings,
    String(s.refused),
    String(s.refusedWorst),
    String(s.waited),
    String(s.idle),
    String(s.serverMinutes),
    String(s.maxServers),
    `${s.scaleOuts} / ${s.scaleIns}`,
  ];
  const demandNote =
    `Demand: ${SEEDS.length} days (seeds ${SEEDS[0]}–${SEEDS.at(-1)}), ${arrivalsAll} streamers in all; arrivals a non-homogeneous Poisson process from ${demand.baseRatePerMin}/min (08:00) to ` +
    `${demand.peakRatePerMin}/min (${demand.peakHour}:00) plus ${demand.burstStreamers} streamers in ${demand.burstMinutes} min at 18:30; stream length log-normal, median ${demand.streamMedianS / 60} min, σ ${demand.streamSigma}; ` +
    `peak demand ${Math.min(...days.map((d) => d.peak))}–${Math.max(...days.map((d) => d.peak))} streams, mean ${round(days.reduce((a, d) => a + d.average, 0) / days.length, 1)}.`;
  const fleetNote =
    `Fleet: a task started is a free Server ${fleet.startLatencyS[0]}–${fleet.startLatencyS[1]} s later (uniform); the policy acts once a minute on a datapoint ${fleet.metricLagS} s old; ` +
    `a streamer finding no free Server waits up to ${fleet.queueTimeoutS} s in HAProxy's queue, then is refused; scale-in stops idle Servers only (task protection); min ${BOUNDS.min}, max ${BOUNDS.max}.`;
  ctx.table({
    section: '9a',
    title: `Scaling policies compared: ${SEEDS.length} simulated days, same streamers for every policy`,
    headers: ['policy', 'settings', 'refused (all days)', 'refused (worst day)', 'waited (all days)', 'idle Server-min/day', 'Server-min/day', 'Servers max', 'scale-outs / scale-ins per day'],
    rows: compared.map(([n, s, sum]) => row(n, s, sum)),
    notes: [
      demandNote,
      fleetNote,
      'idle = task-minutes not carrying a stream (free or still starting): what the headroom costs. waited = placed after ≥ 1 s in the queue. Means per day except refused/waited (sums over the days).',
      `The chosen setting ${sameSettings(chosen.policy, RECOMMENDED_STEP_POLICY) ? 'is' : 'is NOT'} RECOMMENDED_STEP_POLICY in src/core/scaling.ts (shipped: ${summarize(shipped).refused} refused, ${summarize(shipped).idle} idle Server-min/day).`,
    ],
  });

  // The headroom trade-off at the chosen step and cooldown (starting scale-in).
  ctx.table({
    section: '9b',
    title: `Our policy: headroom vs refused and idle cost (step ceil(shortfall × ${outBest.policy.stepFactor}), out cooldown ${outBest.policy.outCooldownS} s, starting scale-in)`,
    headers: ['headroom', 'refused (all days)', 'refused per day', 'waited (all days)', 'idle Server-min/day', 'Servers max', '0 refused, 0 waited?'],
    rows: outGrid
      .filter((g) => g.policy.stepFactor === outBest.policy.stepFactor && g.policy.outCooldownS === outBest.policy.outCooldownS)
      .map((g) => [String(g.policy.headroom), String(g.summary.refused), round(g.summary.refused / SEEDS.length, 1).toString(), String(g.summary.waited), String(g.summary.idle), String(g.summary.maxServers), yesNo(clean(g.summary))]),
  });

  ctx.table({
    section: '9c',
    title: 'Our policy: the least headroom with 0 refused and 0 waited on every day, per step size and scale-out cooldown (starting scale-in)',
    headers: ['out cooldown s', 'step factor', 'least headroom with 0 refused, 0 waited', 'idle Server-min/day', 'waited', 'Servers max'],
    rows: OUT_COOLDOWNS.flatMap((cd) =>
      STEP_FACTORS.map((f) => {
        const b = best(outGrid.filter((g) => g.policy.outCooldownS === cd && g.policy.stepFactor === f));
        return [String(cd), String(f), b ? String(b.policy.headroom) : `none ≤ ${HEADROOMS.at(-1)}`, b ? String(b.summary.idle) : '—', b ? String(b.summary.waited) : '—', b ? String(b.summary.maxServers) : '—'];
      }),
    ),
  });

  const inRows = [...inGrid].sort((a, b) => Number(!clean(a.summary)) - Number(!clean(b.summary)) || a.summary.idle - b.summary.idle);
  const { inMargin, inEvaluationMinutes, inStep, inCooldownS } = STEP_POLICY_DEFAULTS;
  const startIn = inGrid.find((g) => sameSettings(g.policy, { ...g.policy, inMargin, inEvaluationMinutes, inStep, inCooldownS }));
  ctx.table({
    section: '9d',
    title: `Our policy: scale-in settings at headroom ${outBest.policy.headroom} (the 8 cheapest with 0 refused and 0 waited, the starting one, the cheapest that refused)`,
    headers: ['evaluation min', 'margin', 'step', 'cooldown s', 'refused (all days)', 'waited', 'idle Server-min/day', 'scale-ins per day'],
    rows: [...new Set([...inRows.filter((g) => clean(g.summary)).slice(0, 8), ...(startIn ? [startIn] : []), ...inRows.filter((g) => g.summary.refused > 0).slice(0, 1)])].map((g) => [
      String(g.policy.inEvaluationMinutes),
      String(g.policy.inMargin),
      String(g.policy.inStep),
      String(g.policy.inCooldownS),
      String(g.summary.refused),
      String(g.summary.waited),
      String(g.summary.idle),
      String(g.summary.scaleIns),
    ]),
    notes: [`${inGrid.length} settings: evaluation ${IN_EVALUATIONS.join('/')} min × margin ${IN_MARGINS.join('/')} × step ${IN_STEPS.join('/')} (step ≤ margin + 1) × cooldown ${IN_COOLDOWNS.join('/')} s.`],
  });

  const stack = stepScalingSettings(chosen.policy);
  const bounds = (s: { lower?: number; upper?: number }) => `${s.lower ?? '−∞'} … ${s.upper ?? '+∞'}`;
  ctx.table({
    section: '9e',
    title: 'The chosen defaults as the stack writes them: CloudWatch alarms on ServersFree (60 s period) → StepScaling (ChangeInCapacity)',
    headers: ['policy', 'alarm', 'datapoints to alarm', 'cooldown s', 'step adjustments: MetricIntervalLowerBound … UpperBound → ScalingAdjustment'],
    rows: [
      ['scale-out', `ServersFree < ${stack.scaleOut.threshold}`, String(stack.scaleOut.evaluationPeriods), String(stack.scaleOut.cooldownS), stack.scaleOut.steps.map((s) => `${bounds(s)} → +${s.adjustment}`).join('; ')],
      ['scale-in', `ServersFree > ${stack.scaleIn.threshold}`, `${stack.scaleIn.evaluationPeriods} of ${stack.scaleIn.evaluationPeriods}`, String(stack.scaleIn.cooldownS), stack.scaleIn.steps.map((s) => `${bounds(s)} → ${s.adjustment}`).join('; ')],
    ],
  });

  // How the least headroom depends on the burst: the rest of the chosen policy, bursts of other sizes.
  const bursts = [0, 15, 30, 45];
  const burstRows = bursts.map((burstStreamers) => {
    const d = { ...demand, burstStreamers };
    const lists = SEEDS.map((seed) => arrivals(d, seed));
    const runAll = (p: Policy) => summarize(lists.map((l, i) => simulate(l, d.minutes, p, fleet, SEEDS[i])));
    const grid = [...new Set([...HEADROOMS, 36, 44, 48, 56])].sort((a, b) => a - b).map((headroom) => ({ policy: { ...chosen.policy, headroom }, summary: runAll(step({ ...chosen.policy, headroom })) }));
    const b = best(grid);
    return { burstStreamers, best: b, cpu: runAll({ kind: 'cpu', policy: cpuPolicy }) };
  });
  ctx.table({
    section: '9f',
    title: `The least headroom with 0 refused and 0 waited on every day vs the burst (the rest of the chosen policy; ${demand.burstMinutes}-minute burst at 18:30 on the same day curve)`,
    headers: ['burst (streamers in 5 min)', 'least headroom with 0 refused, 0 waited', 'idle Server-min/day', 'waited', 'Servers max', 'CPU target tracking: refused (all days)', 'CPU: idle Server-min/day'],
    rows: burstRows.map((r) => [
      String(r.burstStreamers),
      r.best ? String(r.best.policy.headroom) : 'none in the grid',
      r.best ? String(r.best.summary.idle) : '—',
      r.best ? String(r.best.summary.waited) : '—',
      r.best ? String(r.best.summary.maxServers) : '—',
      String(r.cpu.refused),
      String(r.cpu.idle),
    ]),
  });

  // The plot: the first day, Servers over time under each policy, and the demand.
  const file = path.join(RESULTS, `scaling-${new Date().toISOString().replace(/[:.]/g, '-')}.png`);
  await mkdir(RESULTS, { recursive: true });
  await writeFile(file, plot(days[0]!.curve, [
    { color: [33, 102, 172], result: fixedAverage[0]! },
    { color: [230, 120, 0], result: cpu[0]! },
    { color: [26, 152, 80], result: chosenRuns[0]! },
  ]));
  ctx.progress(`scaling: plot ${path.relative(process.cwd(), file)}`);
  ctx.table({
    section: '9g',
    title: `Plot: ${path.relative(process.cwd(), file)} (day 1, seed ${SEEDS[0]})`,
    headers: ['line', 'color', 'refused that day', 'idle Server-min'],
    rows: [
      ['demand (streams if every streamer got a Server at once)', 'gray', '—', '—'],
      ['no policy (fixed, sized for the average)', 'blue', String(fixedAverage[0]!.refused), String(fixedAverage[0]!.idleServerMinutes)],
      ['CPU target tracking', 'orange', String(cpu[0]!.refused), String(cpu[0]!.idleServerMinutes)],
      ['ours, chosen', 'green', String(chosenRuns[0]!.refused), String(chosenRuns[0]!.idleServerMinutes)],
    ],
    notes: ['x: clock time from 06:00, a tick an hour (labels every 3 h); y: Servers (tasks, running + starting), a grid line every 20. Below the axis, one row per policy: a mark at each minute with a streamer refused.'],
  });

  return {
    seeds: SEEDS,
    demand,
    fleet,
    bounds: BOUNDS,
    cpuPolicy,
    compared: compared.map(([name, settings, summary]) => ({ name, settings, summary })),
    chosen: chosen.policy,
    stack,
    outGrid,
    inGrid,
    bursts: burstRows.map((r) => ({ burstStreamers: r.burstStreamers, headroom: r.best?.policy.headroom, summary: r.best?.summary, cpu: r.cpu })),
    plot: path.relative(process.cwd(), file),
  };
}

/** Servers over a day for each policy (and the demand), with a strip of refused minutes below. */
function plot(demand: number[], series: Array<{ color: Rgb; result: SimResult }>): Buffer {
  const W = 1200, H = 560, left = 50, right = 20, top = 20, plotH = 440;
  const bottom = top + plotH;
  const c = new Canvas(W, H);
  const minutes = demand.length;
  const yMax = Math.ceil(Math.max(...demand, ...series.flatMap((s) => s.result.minutes.map((m) => m.servers))) / 20) * 20;
  const x = (m: number) => left + (m / minutes) * (W - left - right);
  const y = (v: number) => bottom - (v / yMax) * plotH;
  const grid: Rgb = [225, 225, 225], ink: Rgb = [60, 60, 60];
  for (let v = 0; v <= yMax; v += 20) {
    c.line(left, y(v), W - right, y(v), grid);
    c.text(String(v), left - 8 - String(v).length * 8, y(v) - 5, ink);
  }
  for (let h = 0; h <= minutes / 60; h++) {
    c.line(x(h * 60), bottom, x(h * 60), bottom + (h % 3 === 0 ? 8 : 4), ink);
    if (h % 3 === 0) c.text(`${String((6 + h) % 24).padStart(2, '0')}:00`, x(h * 60) - 18, bottom + 12, ink);
  }
  c.line(left, top, left, bottom, ink);
  c.line(left, bottom, W - right, bottom, ink);
  const draw = (values: number[], color: Rgb, thick: number) => {
    for (let m = 1; m < values.length; m++) c.line(x(m - 1), y(values[m - 1]!), x(m), y(values[m]!), color, thick);
  };
  draw(demand, [150, 150, 150], 3);
  series.forEach(({ color, result }, i) => {
    draw(result.minutes.map((m) => m.servers), color, 2);
    const row = bottom + 34 + i * 10;
    c.line(left, row + 3, W - right, row + 3, grid);
    result.minutes.forEach((m, k) => m.refused > 0 && c.rect(x(k) - 1, row, 3, 7, color));
  });
  return c.png();
}
