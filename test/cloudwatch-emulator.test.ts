// The emulator's CloudWatch part, checked with the REAL @aws-sdk/client-cloudwatch (AWS JSON 1.0,
// gzipped PutMetricData bodies, query-compatible errors): datapoints stored with dimensions and units,
// AWS's limits and validation errors, GetMetricData statistics per epoch-aligned period, ListMetrics
// filters and paging, faults, the call log, the inspection API and its admin route.
import { test, describe, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import {
  CloudWatchClient,
  GetMetricDataCommand,
  ListMetricsCommand,
  PutMetricDataCommand,
  type ListMetricsCommandInput,
  type Dimension,
  type MetricDatum,
  type MetricDataQuery,
} from '@aws-sdk/client-cloudwatch';
import { parseFaultSpec, startEcsEmulator, type EcsEmulator, type MetricDatapoint } from '../dev/emulator/ecs-emulator.js';
import { sdkError } from './helpers/sdk.js';
import { waitFor } from './helpers/wait.js';

const CREDENTIALS = { accessKeyId: 'test', secretAccessKey: 'test' };
const NS = 'RtmpProxy';

interface Rig {
  emu: EcsEmulator;
  cw: CloudWatchClient;
  /** A client per extra Proxy, on the same emulator. */
  client(opts?: { disableRequestCompression?: boolean }): CloudWatchClient;
  /** Content-Encoding of each request `cw` sent, in order. */
  encodings: (string | undefined)[];
}

async function setup(t: TestContext): Promise<Rig> {
  const emu = await startEcsEmulator({ host: '127.0.0.1', port: 0 });
  const clients: CloudWatchClient[] = [];
  const client = (opts: { disableRequestCompression?: boolean } = {}) => {
    const c = new CloudWatchClient({ region: 'us-east-1', endpoint: emu.url, credentials: CREDENTIALS, maxAttempts: 1, ...opts });
    clients.push(c);
    return c;
  };
  const cw = client();
  const encodings: (string | undefined)[] = [];
  cw.middlewareStack.add(
    (next) => async (args) => {
      encodings.push((args.request as { headers: Record<string, string> }).headers['content-encoding']);
      return next(args);
    },
    { step: 'finalizeRequest', name: 'recordEncoding' },
  );
  t.after(async () => {
    for (const c of clients) c.destroy();
    await emu.close();
  });
  return { emu, cw, client, encodings };
}

/** The start of a 5-minute period ten minutes ago (ms): datapoints after it are well inside CloudWatch's window. */
function recentBase(): number {
  return Math.floor(Date.now() / 300_000) * 300_000 - 600_000;
}

function proxyDims(proxy: string): Dimension[] {
  return [
    { Name: 'Service', Value: 'rtmp' },
    { Name: 'Proxy', Value: proxy },
  ];
}

function statQuery(Id: string, MetricName: string, Dimensions: Dimension[], Period: number, Stat: string): MetricDataQuery {
  return { Id, MetricStat: { Metric: { Namespace: NS, MetricName, Dimensions }, Period, Stat } };
}

describe('PutMetricData', () => {
  test('stores every datapoint with its dimensions, unit, timestamp (ms), resolution and value form; the call log has the request', async (t) => {
    const { emu, cw } = await setup(t);
    const at = new Date(recentBase() + 12_345);
    await cw.send(
      new PutMetricDataCommand({
        Namespace: NS,
        MetricData: [
          { MetricName: 'FreeServers', Dimensions: proxyDims('a'), Timestamp: at, Value: 3, Unit: 'Count', StorageResolution: 1 },
          { MetricName: 'Latency', Dimensions: [{ Name: 'Service', Value: 'rtmp' }], Timestamp: at, Values: [10, 20], Counts: [3, 1], Unit: 'Milliseconds' },
          { MetricName: 'Bytes', Timestamp: at, StatisticValues: { SampleCount: 2, Sum: 30, Minimum: 10, Maximum: 20 }, Unit: 'Bytes/Second' },
        ],
      }),
    );
    await cw.send(new PutMetricDataCommand({ Namespace: 'Other', MetricData: [{ MetricName: 'FreeServers', Value: 1 }] }));

    const expected: MetricDatapoint[] = [
      { namespace: NS, metricName: 'FreeServers', dimensions: { Service: 'rtmp', Proxy: 'a' }, timestamp: at.getTime(), value: 3, unit: 'Count', storageResolution: 1 },
      { namespace: NS, metricName: 'Latency', dimensions: { Service: 'rtmp' }, timestamp: at.getTime(), values: [10, 20], counts: [3, 1], unit: 'Milliseconds' },
      {
        namespace: NS,
        metricName: 'Bytes',
        dimensions: {},
        timestamp: at.getTime(),
        statisticValues: { sampleCount: 2, sum: 30, minimum: 10, maximum: 20 },
        unit: 'Bytes/Second',
      },
    ];
    assert.deepEqual(emu.metricData({ namespace: NS }), expected);
    assert.deepEqual(emu.metricData({ metricName: 'FreeServers' }).map((d) => d.namespace), [NS, 'Other'], 'arrival order, filtered by name');
    const [other] = emu.metricData({ namespace: 'Other' });
    assert.ok(other && Math.abs(other.timestamp - Date.now()) < 10_000, 'no Timestamp: stamped on arrival');
    assert.equal(other.unit, undefined);

    const calls = emu.calls('PutMetricData');
    assert.equal(calls.length, 2);
    assert.equal(calls[0]!.params.Namespace, NS);
    assert.equal((calls[0]!.params.MetricData as MetricDatum[])[0]!.Timestamp, at.getTime() / 1000, 'JSON 1.0 sends epoch seconds');

    const admin = (await (await fetch(`${emu.url}/_emulator/cloudwatch?namespace=${NS}`)).json()) as { metricData: MetricDatapoint[] };
    assert.deepEqual(admin.metricData, expected);
    const all = (await (await fetch(`${emu.url}/_emulator/cloudwatch`)).json()) as { metricData: MetricDatapoint[] };
    assert.equal(all.metricData.length, 4);

    emu.reset();
    assert.deepEqual(emu.metricData(), []);
    assert.deepEqual((await cw.send(new ListMetricsCommand({}))).Metrics, []);
  });

  test('a batch of 1000 is accepted (it arrives gzipped); 1001 are refused as AWS does and nothing of them is stored', async (t) => {
    const { emu, cw, encodings } = await setup(t);
    const batch = (n: number): MetricDatum[] => Array.from({ length: n }, (_, i) => ({ MetricName: `M${i}`, Dimensions: proxyDims('a'), Value: i, Unit: 'Count' }));
    await cw.send(new PutMetricDataCommand({ Namespace: NS, MetricData: batch(1000) }));
    assert.equal(emu.metricData().length, 1000);
    assert.deepEqual(encodings, ['gzip'], 'the SDK compresses PutMetricData bodies of 10 KiB or more');

    const err = await sdkError(cw.send(new PutMetricDataCommand({ Namespace: NS, MetricData: batch(1001) })));
    assert.equal(err.name, 'InvalidParameterValueException');
    assert.equal((err as unknown as { Code: string }).Code, 'InvalidParameterValue', 'the awsQuery code rides along');
    assert.equal(err.message, 'The collection MetricData must not have a size greater than 1000.');
    assert.equal(err.$metadata.httpStatusCode, 400);
    assert.equal(err.$fault, 'client');
    assert.equal(emu.metricData().length, 1000, 'the refused batch stored nothing');

    const none = await sdkError(cw.send(new PutMetricDataCommand({ Namespace: NS, MetricData: [] })));
    assert.equal(none.name, 'MissingRequiredParameterException');
    assert.equal(none.message, 'The parameter MetricData is required.');
  });

  test('invalid namespaces, empty dimension values and other malformed data are refused with AWS\'s error codes', async (t) => {
    const { emu, cw } = await setup(t);
    const put = (Namespace: string | undefined, MetricData: MetricDatum[]) => sdkError(cw.send(new PutMetricDataCommand({ Namespace, MetricData })));
    const ok: MetricDatum = { MetricName: 'FreeServers', Value: 1 };

    const aws = await put('AWS/ECS', [ok]);
    assert.equal(aws.name, 'InvalidParameterValueException');
    assert.equal(aws.message, 'The value AWS/ECS for parameter Namespace is invalid.');
    assert.equal((await put('x'.repeat(256), [ok])).name, 'InvalidParameterValueException');
    assert.equal((await put(':colon', [ok])).name, 'InvalidParameterValueException');
    const noNamespace = await put(undefined, [ok]);
    assert.equal(noNamespace.name, 'MissingRequiredParameterException');
    assert.equal(noNamespace.message, 'The parameter Namespace is required.');

    const emptyValue = await put(NS, [ok, { MetricName: 'FreeServers', Dimensions: [{ Name: 'Proxy', Value: '' }], Value: 1 }]);
    assert.equal(emptyValue.name, 'MissingRequiredParameterException');
    assert.equal((emptyValue as unknown as { Code: string }).Code, 'MissingParameter');
    assert.equal(emptyValue.message, 'The parameter MetricData.member.2.Dimensions.member.1.Value is required.');
    assert.equal((await put(NS, [{ MetricName: 'm', Dimensions: [{ Name: 'Proxy', Value: '   ' }], Value: 1 }])).name, 'MissingRequiredParameterException', 'whitespace only');
    const tooManyDims = Array.from({ length: 31 }, (_, i) => ({ Name: `d${i}`, Value: 'v' }));
    assert.equal((await put(NS, [{ MetricName: 'm', Dimensions: tooManyDims, Value: 1 }])).message, 'The collection MetricData.member.1.Dimensions must not have a size greater than 30.');
    assert.equal((await put(NS, [{ MetricName: 'm', Dimensions: [{ Name: 'd', Value: 'v'.repeat(1025) }], Value: 1 }])).name, 'InvalidParameterValueException');

    const both = await put(NS, [{ MetricName: 'm', Value: 1, StatisticValues: { SampleCount: 1, Sum: 1, Minimum: 1, Maximum: 1 } }]);
    assert.equal(both.name, 'InvalidParameterCombinationException');
    assert.equal((await put(NS, [{ MetricName: 'm' }])).name, 'InvalidParameterCombinationException', 'no value at all');
    const nan = await put(NS, [{ MetricName: 'm', Value: NaN }]);
    assert.equal(nan.message, 'The value NaN for parameter MetricData.member.1.Value is invalid.');
    assert.equal((await put(NS, [{ MetricName: 'm', Value: 2 ** 361 }])).name, 'InvalidParameterValueException');
    assert.equal((await put(NS, [{ MetricName: 'm', Values: Array.from({ length: 151 }, (_, i) => i) }])).name, 'InvalidParameterValueException');
    assert.equal((await put(NS, [{ MetricName: 'm', Values: [1, 2], Counts: [1] }])).name, 'InvalidParameterValueException');
    assert.equal((await put(NS, [{ MetricName: 'm', Value: 1, Unit: 'Furlongs' as 'Count' }])).message, 'The value Furlongs for parameter MetricData.member.1.Unit is invalid.');
    assert.equal((await put(NS, [{ MetricName: 'm', Value: 1, StorageResolution: 10 }])).name, 'InvalidParameterValueException');
    const old = await put(NS, [{ MetricName: 'm', Value: 1, Timestamp: new Date(Date.now() - 15 * 24 * 3600_000) }]);
    assert.equal(old.message, 'The parameter MetricData.member.1.Timestamp must specify a time within the past two weeks.');
    assert.equal((await put(NS, [{ MetricName: 'm', Value: 1, Timestamp: new Date(Date.now() + 3 * 3600_000) }])).name, 'InvalidParameterValueException');

    assert.deepEqual(emu.metricData(), [], 'no refused request stored anything');
    assert.ok(emu.calls('PutMetricData').length >= 18, 'refused calls are logged too');
  });

  test('requests over 1 MiB as received are refused with 413 RequestEntityTooLarge; the same data gzipped fits', async (t) => {
    const { emu, client } = await setup(t);
    const data: MetricDatum[] = Array.from({ length: 1000 }, (_, i) => ({ MetricName: `M${i}`, Dimensions: [{ Name: 'Blob', Value: 'x'.repeat(1024) }], Value: i }));
    const plain = client({ disableRequestCompression: true });
    const err = await sdkError(plain.send(new PutMetricDataCommand({ Namespace: NS, MetricData: data })));
    assert.equal(err.name, 'RequestEntityTooLarge');
    assert.equal(err.$metadata.httpStatusCode, 413);
    assert.match(err.message, /^Request size \d+ exceeded 1048576 bytes$/);
    assert.deepEqual(emu.metricData(), []);

    await client().send(new PutMetricDataCommand({ Namespace: NS, MetricData: data }));
    assert.equal(emu.metricData().length, 1000);
  });
});

describe('GetMetricData', () => {
  test('two Proxies in the same period: Sum adds them, Average, Minimum, Maximum, SampleCount; other periods apart, newest first, epoch-aligned', async (t) => {
    const { emu, cw, client } = await setup(t);
    const other = client();
    const base = recentBase();
    const dims = [{ Name: 'Service', Value: 'rtmp' }];
    const put = (c: CloudWatchClient, offsetMs: number, Value: number) =>
      c.send(new PutMetricDataCommand({ Namespace: NS, MetricData: [{ MetricName: 'FreeServers', Dimensions: dims, Timestamp: new Date(base + offsetMs), Value, Unit: 'Count', StorageResolution: 1 }] }));
    await put(cw, 10_000, 3); // Proxy A, first minute
    await put(other, 20_000, 5); // Proxy B, same minute
    await put(cw, 70_000, 7); // Proxy A, next minute
    await put(other, 250_000, 11); // Proxy B, fifth minute
    // Same name, other dimensions: another metric, not counted.
    await cw.send(new PutMetricDataCommand({ Namespace: NS, MetricData: [{ MetricName: 'FreeServers', Dimensions: proxyDims('a'), Timestamp: new Date(base + 10_000), Value: 100 }] }));
    assert.equal(emu.metricData().length, 5);

    const { MetricDataResults, Messages } = await cw.send(
      new GetMetricDataCommand({
        StartTime: new Date(base),
        EndTime: new Date(base + 600_000),
        MetricDataQueries: [
          statQuery('sum', 'FreeServers', dims, 60, 'Sum'),
          statQuery('avg', 'FreeServers', dims, 60, 'Average'),
          statQuery('min', 'FreeServers', dims, 60, 'Minimum'),
          statQuery('max', 'FreeServers', dims, 60, 'Maximum'),
          statQuery('n', 'FreeServers', dims, 60, 'SampleCount'),
          { ...statQuery('five', 'FreeServers', dims, 300, 'Sum'), Label: 'five minutes' },
          statQuery('none', 'NoSuchMetric', dims, 60, 'Sum'),
        ],
      }),
    );
    assert.deepEqual(Messages, []);
    const byId = new Map(MetricDataResults!.map((r) => [r.Id, r]));
    const minutes = [base + 240_000, base + 60_000, base].map((ms) => new Date(ms));
    assert.deepEqual(byId.get('sum'), { Id: 'sum', Label: 'FreeServers', Timestamps: minutes, Values: [11, 7, 8], StatusCode: 'Complete', Messages: [] });
    assert.deepEqual(byId.get('avg')!.Values, [11, 7, 4]);
    assert.deepEqual(byId.get('min')!.Values, [11, 7, 3]);
    assert.deepEqual(byId.get('max')!.Values, [11, 7, 5]);
    assert.deepEqual(byId.get('n')!.Values, [1, 1, 2]);
    assert.deepEqual(byId.get('five')!.Timestamps, [new Date(base)], 'one 5-minute period, starting at a multiple of 300 s since the epoch');
    assert.deepEqual(byId.get('five')!.Values, [26]);
    assert.equal(byId.get('five')!.Label, 'five minutes');
    assert.deepEqual(byId.get('none')!.Values, []);

    const ascending = await cw.send(
      new GetMetricDataCommand({ StartTime: new Date(base + 60_000), EndTime: new Date(base + 600_000), ScanBy: 'TimestampAscending', MetricDataQueries: [statQuery('sum', 'FreeServers', dims, 60, 'Sum')] }),
    );
    assert.deepEqual(ascending.MetricDataResults![0]!.Timestamps, [new Date(base + 60_000), new Date(base + 240_000)], 'StartTime excludes the first minute; ascending on request');
    assert.deepEqual(ascending.MetricDataResults![0]!.Values, [7, 11]);
  });

  test('statistic sets and Values/Counts aggregate by their counts; standard-resolution data falls into its minute', async (t) => {
    const { cw } = await setup(t);
    const base = recentBase();
    await cw.send(
      new PutMetricDataCommand({
        Namespace: NS,
        MetricData: [
          { MetricName: 'Latency', Timestamp: new Date(base + 5_000), Values: [10, 20], Counts: [3, 1] },
          { MetricName: 'Latency', Timestamp: new Date(base + 59_000), StatisticValues: { SampleCount: 4, Sum: 100, Minimum: 5, Maximum: 40 } },
        ],
      }),
    );
    const query = (Stat: string, Period: number) =>
      cw.send(new GetMetricDataCommand({ StartTime: new Date(base), EndTime: new Date(base + 120_000), MetricDataQueries: [statQuery('q', 'Latency', [], Period, Stat)] }));
    assert.deepEqual((await query('Sum', 60)).MetricDataResults![0]!.Values, [150]);
    assert.deepEqual((await query('SampleCount', 60)).MetricDataResults![0]!.Values, [8]);
    assert.deepEqual((await query('Average', 60)).MetricDataResults![0]!.Values, [150 / 8]);
    assert.deepEqual((await query('Minimum', 60)).MetricDataResults![0]!.Values, [5]);
    assert.deepEqual((await query('Maximum', 60)).MetricDataResults![0]!.Values, [40]);
    const tenSeconds = (await query('Sum', 10)).MetricDataResults![0]!;
    assert.deepEqual(tenSeconds.Timestamps, [new Date(base)], 'standard resolution (60 s): both datapoints in their minute\'s first 10 s');
  });

  test('metric math, unsupported statistics, bad periods and StartTime >= EndTime are refused clearly', async (t) => {
    const { cw } = await setup(t);
    const now = Date.now();
    const get = (queries: MetricDataQuery[], start = now - 3600_000, end = now) =>
      sdkError(cw.send(new GetMetricDataCommand({ StartTime: new Date(start), EndTime: new Date(end), MetricDataQueries: queries })));
    const expression = await get([{ Id: 'e', Expression: 'SUM(METRICS())' }]);
    assert.equal(expression.name, 'InvalidParameterValueException');
    assert.match(expression.message, /metric math expressions are not supported by the emulator/);
    assert.match((await get([statQuery('p', 'm', [], 60, 'p99')])).message, /for parameter MetricDataQueries.member.1.MetricStat.Stat is invalid/);
    assert.equal((await get([statQuery('p', 'm', [], 45, 'Sum')])).name, 'InvalidParameterValueException');
    assert.equal((await get([statQuery('Bad', 'm', [], 60, 'Sum')])).name, 'InvalidParameterValueException', 'ids start with a lower-case letter');
    const order = await get([statQuery('q', 'm', [], 60, 'Sum')], now, now - 60_000);
    assert.equal(order.message, 'The parameter StartTime must be less than the parameter EndTime.');
  });
});

describe('ListMetrics', () => {
  test('filters by namespace, name and dimensions (name alone or name and value); pages by 500 with NextToken', async (t) => {
    const { cw } = await setup(t);
    await cw.send(
      new PutMetricDataCommand({
        Namespace: NS,
        MetricData: [
          { MetricName: 'FreeServers', Dimensions: proxyDims('a'), Value: 1 },
          { MetricName: 'FreeServers', Dimensions: proxyDims('b'), Value: 2 },
          { MetricName: 'FreeServers', Dimensions: proxyDims('a'), Value: 3 }, // the same metric again
          { MetricName: 'HeldServers', Dimensions: proxyDims('a'), Value: 0 },
          { MetricName: 'FreeServers', Dimensions: [{ Name: 'Service', Value: 'rtmp' }], Value: 3 },
        ],
      }),
    );
    await cw.send(new PutMetricDataCommand({ Namespace: 'Other', MetricData: [{ MetricName: 'FreeServers', Dimensions: proxyDims('a'), Value: 1 }] }));
    const list = async (input: ListMetricsCommandInput) =>
      ((await cw.send(new ListMetricsCommand(input))).Metrics ?? []).map((m) => `${m.Namespace}/${m.MetricName}{${(m.Dimensions ?? []).map((d) => `${d.Name}=${d.Value}`).join(',')}}`);

    assert.deepEqual(await list({ Namespace: NS, Dimensions: [{ Name: 'Proxy', Value: 'a' }] }), [`${NS}/FreeServers{Service=rtmp,Proxy=a}`, `${NS}/HeldServers{Service=rtmp,Proxy=a}`]);
    assert.deepEqual(await list({ Namespace: NS, MetricName: 'FreeServers', Dimensions: [{ Name: 'Proxy' }] }), [
      `${NS}/FreeServers{Service=rtmp,Proxy=a}`,
      `${NS}/FreeServers{Service=rtmp,Proxy=b}`,
    ]);
    assert.equal((await list({ Namespace: NS })).length, 4, 'each metric once');
    assert.equal((await list({ MetricName: 'FreeServers', Dimensions: [{ Name: 'Proxy', Value: 'a' }] })).length, 2, 'across namespaces');
    assert.equal((await list({ RecentlyActive: 'PT3H' })).length, 5);

    const many: MetricDatum[] = Array.from({ length: 501 }, (_, i) => ({ MetricName: 'Load', Dimensions: [{ Name: 'Task', Value: `t${i}` }], Value: i }));
    await cw.send(new PutMetricDataCommand({ Namespace: 'Paged', MetricData: many.slice(0, 500) }));
    await cw.send(new PutMetricDataCommand({ Namespace: 'Paged', MetricData: many.slice(500) }));
    const first = await cw.send(new ListMetricsCommand({ Namespace: 'Paged' }));
    assert.equal(first.Metrics!.length, 500);
    assert.ok(first.NextToken);
    const second = await cw.send(new ListMetricsCommand({ Namespace: 'Paged', NextToken: first.NextToken }));
    assert.deepEqual(second.Metrics, [{ Namespace: 'Paged', MetricName: 'Load', Dimensions: [{ Name: 'Task', Value: 't500' }] }]);
    assert.equal(second.NextToken, undefined);
    assert.equal((await sdkError(cw.send(new ListMetricsCommand({ NextToken: 'garbage' })))).name, 'InvalidNextToken');
  });
});

describe('faults and endpoints', () => {
  test('an injected throttle surfaces as the SDK throttling error (maxAttempts 1); AccessDenied and InternalServiceFault likewise; the call log records them', async (t) => {
    const { emu, cw } = await setup(t);
    const put = () => cw.send(new PutMetricDataCommand({ Namespace: NS, MetricData: [{ MetricName: 'FreeServers', Value: 1 }] }));

    emu.injectFault({ action: 'PutMetricData', kind: 'throttle' });
    const throttled = await sdkError(put());
    assert.equal(throttled.name, 'Throttling');
    assert.equal(throttled.message, 'Rate exceeded');
    assert.equal(throttled.$metadata.httpStatusCode, 400);
    assert.equal(throttled.$metadata.attempts, 1);
    assert.deepEqual(emu.metricData(), [], 'the throttled call stored nothing');
    await put();
    assert.equal(emu.metricData().length, 1, 'the fault was used up');

    emu.injectFault({ action: 'ListMetrics', kind: 'access-denied' });
    const denied = await sdkError(cw.send(new ListMetricsCommand({})));
    assert.equal(denied.name, 'AccessDenied');
    assert.equal(denied.$metadata.httpStatusCode, 403);
    assert.match(denied.message, /not authorized to perform: cloudwatch:ListMetrics/);

    emu.injectFault({ action: 'GetMetricData', kind: 'server-error' });
    const server = await sdkError(cw.send(new GetMetricDataCommand({ StartTime: new Date(Date.now() - 60_000), EndTime: new Date(), MetricDataQueries: [statQuery('q', 'm', [], 60, 'Sum')] })));
    assert.equal(server.name, 'InternalServiceFault');
    assert.equal((server as unknown as { Code: string }).Code, 'InternalServiceError');
    assert.equal(server.$fault, 'server');
    assert.equal(server.$metadata.httpStatusCode, 500);

    emu.injectFault({ action: 'PutMetricData', kind: 'drop-connection' });
    await assert.rejects(put());
    assert.equal(emu.metricData().length, 1, 'the dropped call stored nothing');

    assert.deepEqual(
      emu.calls().map((c) => [c.action, c.fault]),
      [
        ['PutMetricData', 'throttle'],
        ['PutMetricData', undefined],
        ['ListMetrics', 'access-denied'],
        ['GetMetricData', 'server-error'],
        ['PutMetricData', 'drop-connection'],
      ],
    );
    assert.deepEqual(parseFaultSpec({ action: 'PutMetricData', kind: 'throttle', times: 'Infinity' }), { action: 'PutMetricData', kind: 'throttle', times: Infinity });
    assert.throws(() => parseFaultSpec({ action: 'PutMetricAlarm', kind: 'throttle' }), /fault action must be one of/);
  });

  test('a slow fault holds the answer: the call is logged at once, stored only when answered', async (t) => {
    const { emu, cw } = await setup(t);
    emu.injectFault({ action: 'PutMetricData', kind: 'slow', delayMs: 300 });
    const started = Date.now();
    const pending = cw.send(new PutMetricDataCommand({ Namespace: NS, MetricData: [{ MetricName: 'FreeServers', Value: 2 }] }));
    await waitFor(() => emu.calls('PutMetricData').length === 1, { timeoutMs: 5000, what: 'the slow PutMetricData to be logged', intervalMs: 10 });
    assert.deepEqual(emu.metricData(), [], 'not stored before the answer');
    await pending;
    assert.ok(Date.now() - started >= 290);
    assert.deepEqual(emu.metricData().map((d) => d.value), [2]);
    assert.equal(emu.calls('PutMetricData')[0]!.fault, 'slow');
  });

  test('AWS_ENDPOINT_URL_CLOUDWATCH points an endpoint-less client (as the daemon builds it) at the emulator', async (t) => {
    const { emu } = await setup(t);
    const saved = process.env.AWS_ENDPOINT_URL_CLOUDWATCH;
    process.env.AWS_ENDPOINT_URL_CLOUDWATCH = emu.url;
    const cw = new CloudWatchClient({ region: 'us-east-1', credentials: CREDENTIALS, maxAttempts: 1 });
    t.after(() => {
      cw.destroy();
      if (saved === undefined) delete process.env.AWS_ENDPOINT_URL_CLOUDWATCH;
      else process.env.AWS_ENDPOINT_URL_CLOUDWATCH = saved;
    });
    await cw.send(new PutMetricDataCommand({ Namespace: NS, MetricData: [{ MetricName: 'FreeServers', Value: 4, Unit: 'Count' }] }));
    assert.deepEqual(emu.metricData().map((d) => [d.metricName, d.value, d.unit]), [['FreeServers', 4, 'Count']]);
  });
});
