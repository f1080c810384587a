/**
 * The CloudWatch (metrics) part of the API emulator: a state machine that speaks the protocol the
 * current `@aws-sdk/client-cloudwatch` uses, AWS JSON 1.0 (`POST /`, `X-Amz-Target:
 * GraniteServiceVersion20100801.<Op>`, content-type `application/x-amz-json-1.0`, plus
 * `x-amzn-query-mode: true` from the client), so the real client runs unchanged against it.
 * ecs-emulator.ts serves it on its port, with the call log and fault injection around `execute`.
 *
 * Wire details worth knowing: timestamps travel as epoch seconds (fractions for milliseconds); NaN and
 * ±Infinity travel as the strings "NaN", "Infinity", "-Infinity"; PutMetricData bodies of 10 KiB or more
 * arrive gzipped (`Content-Encoding: gzip`: the SDK's request compression), which ecs-emulator.ts undoes
 * before `execute`.
 *
 * Errors go out as CloudWatch sends them in JSON mode: `{"__type": "com.amazonaws.cloudwatch#
 * InvalidParameterValueException", "message": …}` plus `x-amzn-query-error: InvalidParameterValue;Sender`.
 * The client is "awsQueryCompatible": it takes the code from that header and maps it back to the
 * modelled exception, so `err.name` is `InvalidParameterValueException` (and `err.Code` the query code
 * `InvalidParameterValue`); unmodelled codes (Throttling, AccessDenied, RequestEntityTooLarge) keep the
 * header's code as their name.
 *
 * Operations: PutMetricData (MetricData and EntityMetricData, every datapoint stored; validation as the
 * API reference documents it: 1–1000 metrics, ≤ 30 dimensions, ≤ 150 Values, Unit enum,
 * StorageResolution 1 or 60, timestamps from two weeks back to two hours ahead, values within ±2^360,
 * 1 MiB per request), GetMetricData (MetricStat queries, Stat Sum / Average / Minimum / Maximum /
 * SampleCount, periods aligned to the epoch, newest first unless ScanBy says otherwise), ListMetrics
 * (Namespace, MetricName, Dimensions filters, RecentlyActive, 500 per page with NextToken).
 * Not emulated: metric math (Expression is refused), percentiles and other extended statistics,
 * GetMetricData paging (MaxDatapoints is not enforced), alarms, dashboards, the ingestion delay.
 * Where AWS's own wording is known it is used (MetricData > 1000, AWS/ namespaces, empty dimension
 * values, RequestEntityTooLarge, StartTime ≥ EndTime); other messages are the emulator's.
 */
import { randomUUID } from 'node:crypto';

export type CloudWatchAction = 'PutMetricData' | 'GetMetricData' | 'ListMetrics';

export const CLOUDWATCH_ACTIONS: readonly CloudWatchAction[] = ['PutMetricData', 'GetMetricData', 'ListMetrics'];

export const CLOUDWATCH_TARGET_PREFIX = 'GraniteServiceVersion20100801.';
export const CLOUDWATCH_CONTENT_TYPE = 'application/x-amz-json-1.0';
/** "Each PutMetricData request is limited to 1 MB in size for HTTP POST requests" (as received, gzipped or not). */
export const PUT_METRIC_DATA_MAX_BYTES = 1_048_576;

const MAX_METRICS_PER_PUT = 1000;
const MAX_ENTITY_METRIC_DATA = 2;
const MAX_DIMENSIONS = 30;
const MAX_VALUES = 150;
const MAX_NAME = 255;
const MAX_DIMENSION_VALUE = 1024;
const MAX_QUERIES = 500;
const MAX_DIMENSION_FILTERS = 10;
const LIST_METRICS_PAGE = 500;
const VALUE_LIMIT = 2 ** 360;
const TWO_WEEKS_MS = 14 * 24 * 3600_000;
const TWO_HOURS_MS = 2 * 3600_000;
const RECENTLY_ACTIVE_MS = 3 * 3600_000;

export const STANDARD_UNITS = [
  'Seconds',
  'Microseconds',
  'Milliseconds',
  'Bytes',
  'Kilobytes',
  'Megabytes',
  'Gigabytes',
  'Terabytes',
  'Bits',
  'Kilobits',
  'Megabits',
  'Gigabits',
  'Terabits',
  'Percent',
  'Count',
  'Bytes/Second',
  'Kilobytes/Second',
  'Megabytes/Second',
  'Gigabytes/Second',
  'Terabytes/Second',
  'Bits/Second',
  'Kilobits/Second',
  'Megabits/Second',
  'Gigabits/Second',
  'Terabits/Second',
  'Count/Second',
  'None',
] as const;

const STATS = ['Sum', 'Average', 'Minimum', 'Maximum', 'SampleCount'] as const;
type Stat = (typeof STATS)[number];

/**
 * A CloudWatch error: `code` is the shape name that goes in `__type` (with `namespace`), `queryCode`
 * the awsQuery code that goes in `x-amzn-query-error` (what the SDK maps back to the modelled exception).
 */
export class CloudWatchError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly queryCode: string = code,
    readonly namespace: string = 'com.amazonaws.cloudwatch',
  ) {
    super(message);
  }
}

/** InvalidParameterValue (400) → InvalidParameterValueException in the SDK. */
export const invalidParameterValue = (message: string) => new CloudWatchError(400, 'InvalidParameterValueException', message, 'InvalidParameterValue');
/** MissingParameter (400) → MissingRequiredParameterException in the SDK. */
export const missingParameter = (name: string) =>
  new CloudWatchError(400, 'MissingRequiredParameterException', `The parameter ${name} is required.`, 'MissingParameter');
/** InvalidParameterCombination (400) → InvalidParameterCombinationException in the SDK. */
export const invalidParameterCombination = (message: string) =>
  new CloudWatchError(400, 'InvalidParameterCombinationException', message, 'InvalidParameterCombination');
const invalidValue = (value: unknown, name: string) =>
  invalidParameterValue(`The value ${typeof value === 'string' ? value : JSON.stringify(value)} for parameter ${name} is invalid.`);

/** 413 RequestEntityTooLarge, as CloudWatch answers a PutMetricData over 1 MB. */
export const requestEntityTooLarge = (bytes: number) =>
  new CloudWatchError(413, 'RequestEntityTooLargeException', `Request size ${bytes} exceeded ${PUT_METRIC_DATA_MAX_BYTES} bytes`, 'RequestEntityTooLarge', 'com.amazon.coral.service');

/** The HTTP answer for an error, as CloudWatch sends it in JSON mode. */
export function cloudWatchErrorResponse(err: CloudWatchError): { status: number; headers: Record<string, string>; body: string } {
  return {
    status: err.status,
    headers: {
      'content-type': CLOUDWATCH_CONTENT_TYPE,
      'x-amzn-requestid': randomUUID(),
      'x-amzn-query-error': `${err.queryCode};${err.status >= 500 ? 'Receiver' : 'Sender'}`,
    },
    body: JSON.stringify({ __type: `${err.namespace}#${err.code}`, message: err.message }),
  };
}

/** The answer for an injected fault kind (the emulator's shared kinds), with CloudWatch's own codes. */
export function cloudWatchFaultError(kind: 'throttle' | 'server-error' | 'access-denied' | 'expired-token' | 'cluster-not-found' | 'queue-gone', action: string): CloudWatchError {
  switch (kind) {
    case 'throttle':
      return new CloudWatchError(400, 'ThrottlingException', 'Rate exceeded', 'Throttling', 'com.amazon.coral.availability');
    case 'server-error':
      return new CloudWatchError(500, 'InternalServiceFault', 'Internal service error', 'InternalServiceError');
    case 'access-denied':
      return new CloudWatchError(
        403,
        'AccessDeniedException',
        `User: arn:aws:sts::123456789012:assumed-role/emulator/emulator is not authorized to perform: cloudwatch:${action} because no identity-based policy allows the cloudwatch:${action} action`,
        'AccessDenied',
        'com.amazon.coral.service',
      );
    case 'expired-token':
      return new CloudWatchError(403, 'ExpiredTokenException', 'The security token included in the request is expired', 'ExpiredToken', 'com.amazon.coral.service');
    case 'cluster-not-found':
    case 'queue-gone':
      return new CloudWatchError(404, 'ResourceNotFound', 'The requested resource does not exist.', 'ResourceNotFound');
  }
}

/** One stored datapoint, as `metricData()` and GET /_emulator/cloudwatch show it. */
export interface MetricDatapoint {
  namespace: string;
  metricName: string;
  /** In the order sent. */
  dimensions: Record<string, string>;
  /** Epoch milliseconds (the request's Timestamp, else when it arrived). */
  timestamp: number;
  value?: number;
  values?: number[];
  counts?: number[];
  statisticValues?: { sampleCount: number; sum: number; minimum: number; maximum: number };
  unit?: string;
  storageResolution?: number;
}

interface StoredMetric {
  namespace: string;
  metricName: string;
  dimensions: { Name: string; Value: string }[];
  lastPut: number;
}

/** What one datapoint contributes to a period's statistics. */
interface Aggregate {
  sampleCount: number;
  sum: number;
  minimum: number;
  maximum: number;
}

export class CloudWatch {
  private datapoints: MetricDatapoint[] = [];
  /** Every metric that has had data, in the order first seen (ListMetrics' order). */
  private metrics = new Map<string, StoredMetric>();

  reset(): void {
    this.datapoints = [];
    this.metrics = new Map();
  }

  metricData(filter: { namespace?: string; metricName?: string } = {}): MetricDatapoint[] {
    return structuredClone(
      this.datapoints.filter((d) => (filter.namespace === undefined || d.namespace === filter.namespace) && (filter.metricName === undefined || d.metricName === filter.metricName)),
    );
  }

  execute(action: string, p: Record<string, unknown>, now = Date.now()): Record<string, unknown> {
    switch (action as CloudWatchAction) {
      case 'PutMetricData':
        this.putMetricData(p, now);
        return {};
      case 'GetMetricData':
        return this.getMetricData(p);
      case 'ListMetrics':
        return this.listMetrics(p, now);
      default:
        throw new CloudWatchError(400, 'UnknownOperationException', `The emulator does not implement ${action}`, 'InvalidAction', 'com.amazon.coral.service');
    }
  }

  // ---- PutMetricData ----

  private putMetricData(p: Record<string, unknown>, now: number): void {
    const namespace = p.Namespace;
    if (namespace === undefined || namespace === null || namespace === '') throw missingParameter('Namespace');
    if (typeof namespace !== 'string' || !validName(namespace, MAX_NAME) || namespace.startsWith(':') || namespace.startsWith('AWS/')) {
      throw invalidValue(namespace, 'Namespace');
    }
    const lists: { prefix: string; data: unknown[] }[] = [];
    if (p.MetricData !== undefined) lists.push({ prefix: 'MetricData', data: list(p.MetricData, 'MetricData') });
    if (p.EntityMetricData !== undefined) {
      const entities = list(p.EntityMetricData, 'EntityMetricData');
      if (entities.length > MAX_ENTITY_METRIC_DATA) {
        throw invalidParameterValue(`The collection EntityMetricData must not have a size greater than ${MAX_ENTITY_METRIC_DATA}.`);
      }
      entities.forEach((entity, i) => {
        const prefix = `EntityMetricData.member.${i + 1}.MetricData`;
        lists.push({ prefix, data: list(object(entity, `EntityMetricData.member.${i + 1}`).MetricData ?? [], prefix) });
      });
    }
    const total = lists.reduce((n, l) => n + l.data.length, 0);
    if (total === 0) throw missingParameter('MetricData');
    if (total > MAX_METRICS_PER_PUT) {
      throw invalidParameterValue(
        p.EntityMetricData === undefined
          ? `The collection MetricData must not have a size greater than ${MAX_METRICS_PER_PUT}.`
          : `The collections MetricData and EntityMetricData must not have more than ${MAX_METRICS_PER_PUT} metrics in total.`,
      );
    }
    // Validate everything first: a request is stored whole or not at all.
    const parsed: MetricDatapoint[] = [];
    for (const { prefix, data } of lists) {
      data.forEach((datum, i) => parsed.push(parseDatum(namespace, datum, `${prefix}.member.${i + 1}`, now)));
    }
    for (const point of parsed) {
      this.datapoints.push(point);
      const dimensions = Object.entries(point.dimensions).map(([Name, Value]) => ({ Name, Value }));
      const key = metricKey(point.namespace, point.metricName, dimensions);
      const known = this.metrics.get(key);
      if (known) known.lastPut = now;
      else this.metrics.set(key, { namespace: point.namespace, metricName: point.metricName, dimensions, lastPut: now });
    }
  }

  // ---- GetMetricData ----

  private getMetricData(p: Record<string, unknown>): Record<string, unknown> {
    if (p.MetricDataQueries === undefined) throw missingParameter('MetricDataQueries');
    const queries = list(p.MetricDataQueries, 'MetricDataQueries');
    if (queries.length === 0) throw missingParameter('MetricDataQueries');
    if (queries.length > MAX_QUERIES) throw invalidParameterValue(`The collection MetricDataQueries must not have a size greater than ${MAX_QUERIES}.`);
    const start = timestamp(p.StartTime, 'StartTime');
    const end = timestamp(p.EndTime, 'EndTime');
    if (start >= end) throw invalidParameterValue('The parameter StartTime must be less than the parameter EndTime.');
    // CloudWatch rounds a StartTime of the last 15 days down to the whole minute.
    const from = Math.floor(start / 60_000) * 60_000;
    const scanBy = p.ScanBy ?? 'TimestampDescending';
    if (scanBy !== 'TimestampDescending' && scanBy !== 'TimestampAscending') throw invalidValue(scanBy, 'ScanBy');
    if (p.MaxDatapoints !== undefined && !(Number.isInteger(p.MaxDatapoints) && (p.MaxDatapoints as number) >= 1)) throw invalidValue(p.MaxDatapoints, 'MaxDatapoints');

    const ids = new Set<string>();
    const results: Record<string, unknown>[] = [];
    queries.forEach((raw, i) => {
      const name = `MetricDataQueries.member.${i + 1}`;
      const query = object(raw, name);
      const id = query.Id;
      if (id === undefined || id === '') throw missingParameter(`${name}.Id`);
      if (typeof id !== 'string' || !/^[a-z][a-zA-Z0-9_]*$/.test(id) || id.length > MAX_NAME) throw invalidValue(id, `${name}.Id`);
      if (ids.has(id)) throw invalidParameterValue(`The value ${id} for parameter ${name}.Id is duplicated.`);
      ids.add(id);
      if (query.Expression !== undefined) {
        throw invalidParameterValue(`${name}.Expression: metric math expressions are not supported by the emulator; use MetricStat.`);
      }
      if (query.MetricStat === undefined) throw missingParameter(`${name}.MetricStat`);
      const stat = object(query.MetricStat, `${name}.MetricStat`);
      const metric = object(stat.Metric ?? missing(`${name}.MetricStat.Metric`), `${name}.MetricStat.Metric`);
      const namespace = requiredString(metric.Namespace, `${name}.MetricStat.Metric.Namespace`);
      const metricName = requiredString(metric.MetricName, `${name}.MetricStat.Metric.MetricName`);
      const dimensions = parseDimensions(metric.Dimensions, `${name}.MetricStat.Metric.Dimensions`);
      const period = query.Period ?? stat.Period;
      if (period === undefined) throw missingParameter(`${name}.MetricStat.Period`);
      if (typeof period !== 'number' || !Number.isInteger(period) || period < 1 || !([1, 5, 10, 20, 30].includes(period) || period % 60 === 0)) {
        throw invalidParameterValue(`The parameter ${name}.MetricStat.Period must be 1, 5, 10, 20, 30 or a multiple of 60.`);
      }
      const statName = requiredString(stat.Stat, `${name}.MetricStat.Stat`);
      if (!(STATS as readonly string[]).includes(statName)) {
        throw invalidParameterValue(`The value ${statName} for parameter ${name}.MetricStat.Stat is invalid (the emulator computes ${STATS.join(', ')}).`);
      }
      const unit = stat.Unit;
      if (unit !== undefined && !(STANDARD_UNITS as readonly string[]).includes(unit as string)) throw invalidValue(unit, `${name}.MetricStat.Unit`);
      if (query.ReturnData === false) return;

      const key = metricKey(namespace, metricName, Object.entries(dimensions).map(([Name, Value]) => ({ Name, Value })));
      const periodMs = period * 1000;
      const buckets = new Map<number, Aggregate>();
      for (const point of this.datapoints) {
        if (point.namespace !== namespace || point.metricName !== metricName) continue;
        if (metricKey(point.namespace, point.metricName, Object.entries(point.dimensions).map(([Name, Value]) => ({ Name, Value }))) !== key) continue;
        if (unit !== undefined && (point.unit ?? 'None') !== unit) continue;
        // Standard-resolution data is kept per minute; periods start at multiples of the period since the epoch.
        const at = (point.storageResolution ?? 60) === 60 ? Math.floor(point.timestamp / 60_000) * 60_000 : point.timestamp;
        if (at < from || at >= end) continue;
        const bucket = Math.floor(at / periodMs) * periodMs;
        const add = aggregateOf(point);
        const sum = buckets.get(bucket);
        buckets.set(
          bucket,
          sum === undefined
            ? add
            : { sampleCount: sum.sampleCount + add.sampleCount, sum: sum.sum + add.sum, minimum: Math.min(sum.minimum, add.minimum), maximum: Math.max(sum.maximum, add.maximum) },
        );
      }
      const ordered = [...buckets.entries()].filter(([, a]) => a.sampleCount > 0).sort(([a], [b]) => (scanBy === 'TimestampAscending' ? a - b : b - a));
      const label = typeof query.Label === 'string' && query.Label !== '' ? query.Label : metricName;
      results.push({
        Id: id,
        Label: label,
        Timestamps: ordered.map(([t]) => t / 1000),
        Values: ordered.map(([, a]) => statistic(a, statName as Stat)),
        StatusCode: 'Complete',
        Messages: [],
      });
    });
    return { MetricDataResults: results, Messages: [] };
  }

  // ---- ListMetrics ----

  private listMetrics(p: Record<string, unknown>, now: number): Record<string, unknown> {
    const namespace = optionalString(p.Namespace, 'Namespace');
    const metricName = optionalString(p.MetricName, 'MetricName');
    const filters = p.Dimensions === undefined ? [] : list(p.Dimensions, 'Dimensions');
    if (filters.length > MAX_DIMENSION_FILTERS) throw invalidParameterValue(`The collection Dimensions must not have a size greater than ${MAX_DIMENSION_FILTERS}.`);
    const wanted = filters.map((raw, i) => {
      const filter = object(raw, `Dimensions.member.${i + 1}`);
      const name = requiredString(filter.Name, `Dimensions.member.${i + 1}.Name`);
      const value = optionalString(filter.Value, `Dimensions.member.${i + 1}.Value`);
      return { name, value };
    });
    if (p.RecentlyActive !== undefined && p.RecentlyActive !== 'PT3H') throw invalidValue(p.RecentlyActive, 'RecentlyActive');
    let offset = 0;
    if (p.NextToken !== undefined) {
      const decoded = decodeToken(p.NextToken);
      if (decoded === undefined) throw new CloudWatchError(400, 'InvalidNextToken', 'The service returned an invalid NextToken.', 'InvalidNextToken');
      offset = decoded;
    }
    const matching = [...this.metrics.values()].filter(
      (m) =>
        (namespace === undefined || m.namespace === namespace) &&
        (metricName === undefined || m.metricName === metricName) &&
        wanted.every((w) => m.dimensions.some((d) => d.Name === w.name && (w.value === undefined || d.Value === w.value))) &&
        (p.RecentlyActive === undefined || now - m.lastPut <= RECENTLY_ACTIVE_MS),
    );
    const page = matching.slice(offset, offset + LIST_METRICS_PAGE);
    const result: Record<string, unknown> = {
      Metrics: page.map((m) => ({ Namespace: m.namespace, MetricName: m.metricName, Dimensions: m.dimensions.map((d) => ({ ...d })) })),
    };
    if (offset + page.length < matching.length) result.NextToken = encodeToken(offset + page.length);
    return result;
  }
}

// ---- parsing and validation ----

function parseDatum(namespace: string, raw: unknown, name: string, now: number): MetricDatapoint {
  const datum = object(raw, name);
  const metricName = requiredString(datum.MetricName, `${name}.MetricName`);
  if (!validName(metricName, MAX_NAME)) throw invalidValue(metricName, `${name}.MetricName`);
  const dimensions = parseDimensions(datum.Dimensions, `${name}.Dimensions`);

  const has = (key: string) => datum[key] !== undefined && datum[key] !== null;
  const kinds = ['Value', 'StatisticValues', 'Values'].filter(has);
  if (kinds.length > 1) {
    throw invalidParameterCombination(`The parameters ${name}.${kinds[0]} and ${name}.${kinds[1]} are mutually exclusive and you have specified both.`);
  }
  if (has('Counts') && !has('Values')) throw invalidParameterCombination(`The parameter ${name}.Counts may only be given with ${name}.Values.`);
  if (kinds.length === 0) throw invalidParameterCombination(`At least one of the parameters ${name}.Value, ${name}.StatisticValues or ${name}.Values must be specified.`);

  let ts = now;
  if (has('Timestamp')) {
    ts = timestamp(datum.Timestamp, `${name}.Timestamp`);
    if (ts < now - TWO_WEEKS_MS) throw invalidParameterValue(`The parameter ${name}.Timestamp must specify a time within the past two weeks.`);
    if (ts > now + TWO_HOURS_MS) throw invalidParameterValue(`The parameter ${name}.Timestamp must specify a time no more than two hours in the future.`);
  }
  const point: MetricDatapoint = { namespace, metricName, dimensions, timestamp: ts };
  if (has('Value')) point.value = metricValue(datum.Value, `${name}.Value`);
  if (has('Values')) {
    const values = list(datum.Values, `${name}.Values`);
    if (values.length > MAX_VALUES) throw invalidParameterValue(`The collection ${name}.Values must not have a size greater than ${MAX_VALUES}.`);
    point.values = values.map((v, i) => metricValue(v, `${name}.Values.member.${i + 1}`));
    if (has('Counts')) {
      const counts = list(datum.Counts, `${name}.Counts`);
      if (counts.length !== values.length) throw invalidParameterValue(`The parameters ${name}.Values and ${name}.Counts must be of the same size.`);
      point.counts = counts.map((c, i) => {
        const count = metricValue(c, `${name}.Counts.member.${i + 1}`);
        if (count < 0) throw invalidValue(c, `${name}.Counts.member.${i + 1}`);
        return count;
      });
    }
  }
  if (has('StatisticValues')) {
    const set = object(datum.StatisticValues, `${name}.StatisticValues`);
    const field = (key: string) => {
      if (set[key] === undefined || set[key] === null) throw missingParameter(`${name}.StatisticValues.${key}`);
      return metricValue(set[key], `${name}.StatisticValues.${key}`);
    };
    const stats = { sampleCount: field('SampleCount'), sum: field('Sum'), minimum: field('Minimum'), maximum: field('Maximum') };
    if (stats.sampleCount <= 0) throw invalidValue(set.SampleCount, `${name}.StatisticValues.SampleCount`);
    if (stats.minimum > stats.maximum) throw invalidParameterValue(`The parameter ${name}.StatisticValues.Minimum must not be greater than ${name}.StatisticValues.Maximum.`);
    point.statisticValues = stats;
  }
  if (has('Unit')) {
    if (!(STANDARD_UNITS as readonly string[]).includes(datum.Unit as string)) throw invalidValue(datum.Unit, `${name}.Unit`);
    point.unit = datum.Unit as string;
  }
  if (has('StorageResolution')) {
    if (datum.StorageResolution !== 1 && datum.StorageResolution !== 60) throw invalidValue(datum.StorageResolution, `${name}.StorageResolution`);
    point.storageResolution = datum.StorageResolution;
  }
  return point;
}

function parseDimensions(raw: unknown, name: string): Record<string, string> {
  if (raw === undefined || raw === null) return {};
  const dimensions = list(raw, name);
  if (dimensions.length > MAX_DIMENSIONS) throw invalidParameterValue(`The collection ${name} must not have a size greater than ${MAX_DIMENSIONS}.`);
  const result: Record<string, string> = {};
  dimensions.forEach((d, i) => {
    const member = `${name}.member.${i + 1}`;
    const dimension = object(d, member);
    const dimName = requiredString(dimension.Name, `${member}.Name`);
    const value = requiredString(dimension.Value, `${member}.Value`);
    if (!validName(dimName, MAX_NAME) || dimName.startsWith(':')) throw invalidValue(dimName, `${member}.Name`);
    if (!validName(value, MAX_DIMENSION_VALUE)) throw invalidValue(value, `${member}.Value`);
    if (Object.hasOwn(result, dimName)) throw invalidParameterValue(`The dimension name ${dimName} appears more than once in ${name}.`);
    result[dimName] = value;
  });
  return result;
}

/** ASCII without control characters, 1..max long, not only whitespace. */
function validName(value: string, max: number): boolean {
  return value.length >= 1 && value.length <= max && /^[\x20-\x7e]+$/.test(value) && value.trim() !== '';
}

/** A required string: absent, empty or only whitespace is MissingParameter (as CloudWatch answers an empty dimension value). */
function requiredString(value: unknown, name: string): string {
  if (value === undefined || value === null || (typeof value === 'string' && value.trim() === '')) throw missingParameter(name);
  if (typeof value !== 'string') throw invalidValue(value, name);
  return value;
}

function optionalString(value: unknown, name: string): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string' || value === '') throw invalidValue(value, name);
  return value;
}

function missing(name: string): never {
  throw missingParameter(name);
}

function list(value: unknown, name: string): unknown[] {
  if (!Array.isArray(value)) throw invalidValue(value, name);
  return value;
}

function object(value: unknown, name: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw invalidValue(value, name);
  return value as Record<string, unknown>;
}

/** A double as JSON 1.0 carries it: a number, or "NaN" / "Infinity" / "-Infinity" (refused, as CloudWatch does). */
function metricValue(value: unknown, name: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || Math.abs(value) > VALUE_LIMIT) throw invalidValue(value, name);
  return value;
}

/** JSON 1.0 timestamps: epoch seconds (fractions for ms); returns epoch ms. */
function timestamp(value: unknown, name: string): number {
  if (value === undefined || value === null) throw missingParameter(name);
  if (typeof value !== 'number' || !Number.isFinite(value)) throw invalidValue(value, name);
  return Math.round(value * 1000);
}

function metricKey(namespace: string, metricName: string, dimensions: { Name: string; Value: string }[]): string {
  const sorted = dimensions.map((d) => [d.Name, d.Value]).sort(([a], [b]) => (a! < b! ? -1 : a! > b! ? 1 : 0));
  return JSON.stringify([namespace, metricName, sorted]);
}

function aggregateOf(point: MetricDatapoint): Aggregate {
  if (point.statisticValues) return { ...point.statisticValues };
  if (point.values) {
    let sampleCount = 0;
    let sum = 0;
    let minimum = Infinity;
    let maximum = -Infinity;
    point.values.forEach((v, i) => {
      const count = point.counts?.[i] ?? 1;
      if (count === 0) return;
      sampleCount += count;
      sum += v * count;
      minimum = Math.min(minimum, v);
      maximum = Math.max(maximum, v);
    });
    return { sampleCount, sum, minimum, maximum };
  }
  const v = point.value!;
  return { sampleCount: 1, sum: v, minimum: v, maximum: v };
}

function statistic(a: Aggregate, stat: Stat): number {
  switch (stat) {
    case 'Sum':
      return a.sum;
    case 'Average':
      return a.sum / a.sampleCount;
    case 'Minimum':
      return a.minimum;
    case 'Maximum':
      return a.maximum;
    case 'SampleCount':
      return a.sampleCount;
  }
}

function encodeToken(offset: number): string {
  return Buffer.from(JSON.stringify({ offset })).toString('base64url');
}

function decodeToken(value: unknown): number | undefined {
  try {
    const { offset } = JSON.parse(Buffer.from(String(value), 'base64url').toString('utf8')) as { offset: unknown };
    if (typeof offset === 'number' && Number.isInteger(offset) && offset >= 0) return offset;
  } catch {
    // fall through
  }
  return undefined;
}
