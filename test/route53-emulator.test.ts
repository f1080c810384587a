// The emulator's Route 53 part, checked with the REAL @aws-sdk/client-route-53 (REST-XML wire form,
// change-batch semantics, listing order and paging, health check idempotency, errors, faults) and
// over plain HTTP (admin route, raw paths).
import { test, describe, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import {
  ChangeResourceRecordSetsCommand,
  CreateHealthCheckCommand,
  CreateHostedZoneCommand,
  DeleteHealthCheckCommand,
  GetHealthCheckCommand,
  ListHealthChecksCommand,
  ListResourceRecordSetsCommand,
  paginateListHealthChecks,
  Route53Client,
  type Change,
  type HealthCheckConfig,
  type ResourceRecordSet,
} from '@aws-sdk/client-route-53';
import { parseFaultSpec, startEcsEmulator, type EcsEmulator } from '../dev/emulator/ecs-emulator.js';
import { sdkError, type SdkError } from './helpers/sdk.js';

const CREDENTIALS = { accessKeyId: 'test', secretAccessKey: 'test' };
const HTTP_CHECK: HealthCheckConfig = { Type: 'HTTP', IPAddress: '203.0.113.10', Port: 8080, ResourcePath: '/healthz' };

async function setup(t: TestContext): Promise<{ emu: EcsEmulator; r53: Route53Client }> {
  const emu = await startEcsEmulator({ host: '127.0.0.1', port: 0 });
  const r53 = new Route53Client({ region: 'us-east-1', endpoint: emu.url, credentials: CREDENTIALS, maxAttempts: 1 });
  t.after(async () => {
    r53.destroy();
    await emu.close();
  });
  return { emu, r53 };
}



async function zone(r53: Route53Client, name = 'example.com'): Promise<string> {
  const { HostedZone } = await r53.send(new CreateHostedZoneCommand({ Name: name, CallerReference: `ref-${name}-${Math.random()}` }));
  return HostedZone!.Id!;
}

function change(r53: Route53Client, zoneId: string, changes: Change[]) {
  return r53.send(new ChangeResourceRecordSetsCommand({ HostedZoneId: zoneId, ChangeBatch: { Changes: changes } }));
}

const a = (Name: string, value: string, extra: Partial<ResourceRecordSet> = {}): ResourceRecordSet => ({
  Name,
  Type: 'A',
  TTL: 60,
  ResourceRecords: [{ Value: value }],
  ...extra,
});

async function listAll(r53: Route53Client, zoneId: string): Promise<string[]> {
  const { ResourceRecordSets } = await r53.send(new ListResourceRecordSetsCommand({ HostedZoneId: zoneId }));
  return ResourceRecordSets!.map((r) => `${r.Name} ${r.Type}${r.SetIdentifier ? ` ${r.SetIdentifier}` : ''}`);
}

describe('hosted zones and record sets', () => {
  test('CreateHostedZone: /hostedzone/Z… id, Location, delegation set; the zone starts with apex NS and SOA', async (t) => {
    const { emu, r53 } = await setup(t);
    const created = await r53.send(new CreateHostedZoneCommand({ Name: 'Example.COM', CallerReference: 'zone-1' }));
    assert.equal(created.$metadata.httpStatusCode, 201);
    const id = created.HostedZone!.Id!;
    assert.match(id, /^\/hostedzone\/Z[0-9A-Z]+$/);
    assert.equal(created.Location, `https://route53.amazonaws.com/2013-04-01${id}`);
    assert.equal(created.HostedZone!.Name, 'example.com.');
    assert.equal(created.HostedZone!.ResourceRecordSetCount, 2);
    assert.equal(created.DelegationSet!.NameServers!.length, 4);
    const sets = (await r53.send(new ListResourceRecordSetsCommand({ HostedZoneId: id }))).ResourceRecordSets!;
    assert.deepEqual(sets.map((s) => [s.Name, s.Type]), [['example.com.', 'NS'], ['example.com.', 'SOA']]);
    assert.deepEqual(sets[0]!.ResourceRecords!.map((r) => r.Value), created.DelegationSet!.NameServers!.map((n) => `${n}.`));

    // The inspection side: bare ids, and ids with or without the prefix.
    const bare = emu.createHostedZone('other.example.');
    assert.match(bare, /^Z[0-9A-Z]+$/);
    assert.deepEqual(emu.recordSets(`/hostedzone/${bare}`).map((s) => s.Type), ['NS', 'SOA']);
    assert.equal(emu.recordSets(id.slice('/hostedzone/'.length)).length, 2);
    const again = await sdkError(r53.send(new CreateHostedZoneCommand({ Name: 'x.example', CallerReference: 'zone-1' })));
    assert.equal(again.name, 'HostedZoneAlreadyExists');
    assert.equal(again.$metadata.httpStatusCode, 409);
    assert.equal((await sdkError(r53.send(new ListResourceRecordSetsCommand({ HostedZoneId: 'ZNOSUCHZONE' })))).name, 'NoSuchHostedZone');
  });

  test('UPSERT weighted A records with health checks; names normalized; UPSERT replaces by name+type+set identifier', async (t) => {
    const { emu, r53 } = await setup(t);
    const zoneId = await zone(r53);
    const hc1 = (await r53.send(new CreateHealthCheckCommand({ CallerReference: 'hc-1', HealthCheckConfig: HTTP_CHECK }))).HealthCheck!.Id!;
    const hc2 = (await r53.send(new CreateHealthCheckCommand({ CallerReference: 'hc-2', HealthCheckConfig: { ...HTTP_CHECK, IPAddress: '203.0.113.11' } }))).HealthCheck!.Id!;
    const answer = await change(r53, zoneId, [
      { Action: 'UPSERT', ResourceRecordSet: a('RTMP.Example.com', '203.0.113.10', { SetIdentifier: 'server-1', Weight: 1, HealthCheckId: hc1 }) },
      { Action: 'UPSERT', ResourceRecordSet: a('rtmp.example.com.', '203.0.113.11', { SetIdentifier: 'server-2', Weight: 1, HealthCheckId: hc2 }) },
    ]);
    assert.match(answer.ChangeInfo!.Id!, /^\/change\/C[0-9A-Z]+$/);
    assert.equal(answer.ChangeInfo!.Status, 'INSYNC');
    assert.ok(answer.ChangeInfo!.SubmittedAt instanceof Date);

    await change(r53, zoneId, [{ Action: 'UPSERT', ResourceRecordSet: a('rtmp.example.com', '203.0.113.10', { SetIdentifier: 'server-1', Weight: 0, HealthCheckId: hc1 }) }]);
    const sets = (await r53.send(new ListResourceRecordSetsCommand({ HostedZoneId: zoneId, StartRecordName: 'rtmp.example.com', StartRecordType: 'A' }))).ResourceRecordSets!;
    assert.deepEqual(
      sets.map((s) => [s.Name, s.SetIdentifier, s.Weight, s.HealthCheckId, s.ResourceRecords![0]!.Value]),
      [
        ['rtmp.example.com.', 'server-1', 0, hc1, '203.0.113.10'],
        ['rtmp.example.com.', 'server-2', 1, hc2, '203.0.113.11'],
      ],
    );
    assert.equal(emu.recordSets(zoneId).length, 4);

    // Weighted sets need both SetIdentifier and Weight; health checks must exist.
    const noWeight = await sdkError(change(r53, zoneId, [{ Action: 'UPSERT', ResourceRecordSet: a('rtmp.example.com', '203.0.113.12', { SetIdentifier: 'server-3' }) }]));
    assert.equal(noWeight.name, 'InvalidInput');
    assert.match(noWeight.message, /Expected exactly one of \[Weight, .*but found none/);
    const noId = await sdkError(change(r53, zoneId, [{ Action: 'UPSERT', ResourceRecordSet: a('rtmp.example.com', '203.0.113.12', { Weight: 5 }) }]));
    assert.equal(noId.name, 'InvalidInput');
    assert.match(noId.message, /Missing field 'SetIdentifier'/);
    const noCheck = await sdkError(
      change(r53, zoneId, [{ Action: 'UPSERT', ResourceRecordSet: a('rtmp.example.com', '203.0.113.12', { SetIdentifier: 'server-3', Weight: 1, HealthCheckId: '00000000-0000-0000-0000-000000000000' }) }]),
    );
    assert.equal(noCheck.name, 'NoSuchHealthCheck');
    // A simple set cannot join weighted ones of the same name and type.
    const simple = await sdkError(change(r53, zoneId, [{ Action: 'CREATE', ResourceRecordSet: a('rtmp.example.com', '203.0.113.12') }]));
    assert.equal(simple.name, 'InvalidChangeBatch');
    assert.equal(emu.recordSets(zoneId).length, 4);
  });

  test('CREATE of an existing set fails with InvalidChangeBatch, and the whole batch is not applied', async (t) => {
    const { emu, r53 } = await setup(t);
    const zoneId = await zone(r53);
    await change(r53, zoneId, [{ Action: 'CREATE', ResourceRecordSet: a('www.example.com', '192.0.2.1', { SetIdentifier: 'one', Weight: 10 }) }]);
    const before = emu.recordSets(zoneId);
    const err = await sdkError(
      change(r53, zoneId, [
        { Action: 'CREATE', ResourceRecordSet: a('fresh.example.com', '192.0.2.9') },
        { Action: 'CREATE', ResourceRecordSet: a('WWW.example.com', '192.0.2.2', { SetIdentifier: 'one', Weight: 10 }) },
        { Action: 'CREATE', ResourceRecordSet: a('elsewhere.example.org', '192.0.2.3') },
      ]),
    );
    assert.equal(err.name, 'InvalidChangeBatch');
    assert.equal(err.$metadata.httpStatusCode, 400);
    assert.equal(err.$fault, 'client');
    assert.equal(
      err.message,
      "[Tried to create resource record set [name='www.example.com.', type='A', set-identifier='one'] but it already exists, " +
        'RRSet with DNS name elsewhere.example.org. is not permitted in zone example.com.]',
    );
    assert.deepEqual(emu.recordSets(zoneId), before, 'the valid CREATE in the batch was not applied');
    assert.ok(!(await listAll(r53, zoneId)).some((s) => s.startsWith('fresh.')));
  });

  test('DELETE needs every current value; a later change in the batch may rely on an earlier one', async (t) => {
    const { emu, r53 } = await setup(t);
    const zoneId = await zone(r53);
    const hc = (await r53.send(new CreateHealthCheckCommand({ CallerReference: 'hc', HealthCheckConfig: HTTP_CHECK }))).HealthCheck!.Id!;
    const current = a('www.example.com', '192.0.2.1', { SetIdentifier: 'one', Weight: 10, HealthCheckId: hc, ResourceRecords: [{ Value: '192.0.2.1' }, { Value: '192.0.2.2' }] });
    await change(r53, zoneId, [{ Action: 'CREATE', ResourceRecordSet: current }]);

    const mismatches: ResourceRecordSet[] = [
      { ...current, TTL: 300 },
      { ...current, Weight: 11 },
      { ...current, ResourceRecords: [{ Value: '192.0.2.1' }] },
      { ...current, HealthCheckId: undefined },
    ];
    for (const rrset of mismatches) {
      const err = await sdkError(change(r53, zoneId, [{ Action: 'DELETE', ResourceRecordSet: rrset }]));
      assert.equal(err.name, 'InvalidChangeBatch');
      assert.equal(err.message, "[Tried to delete resource record set [name='www.example.com.', type='A', set-identifier='one'] but the values provided do not match the current values]");
    }
    const missing = await sdkError(change(r53, zoneId, [{ Action: 'DELETE', ResourceRecordSet: { ...current, SetIdentifier: 'two' } }]));
    assert.equal(missing.message, "[Tried to delete resource record set [name='www.example.com.', type='A', set-identifier='two'] but it was not found]");
    assert.equal(emu.recordSets(zoneId).length, 3);

    // Same values, records in another order and the name in another case: deleted; then re-created in the same batch.
    await change(r53, zoneId, [
      { Action: 'DELETE', ResourceRecordSet: { ...current, Name: 'WWW.EXAMPLE.COM.', ResourceRecords: [{ Value: '192.0.2.2' }, { Value: '192.0.2.1' }] } },
      { Action: 'CREATE', ResourceRecordSet: { ...current, Weight: 20 } },
    ]);
    assert.deepEqual(emu.recordSets(zoneId).filter((s) => s.Type === 'A').map((s) => s.Weight), [20]);

    // The apex NS and SOA stay.
    const apex = emu.recordSets(zoneId).find((s) => s.Type === 'NS')!;
    const apexErr = await sdkError(change(r53, zoneId, [{ Action: 'DELETE', ResourceRecordSet: { Name: apex.Name, Type: 'NS', TTL: apex.TTL!, ResourceRecords: apex.ResourceRecords! } }]));
    assert.equal(apexErr.name, 'InvalidChangeBatch');
    assert.equal(apexErr.message, '[A HostedZone must contain at least one NS record for the zone itself.]');
  });

  test('ListResourceRecordSets: DNS canonical order (labels reversed, then type, then set identifier), paged by name/type/identifier', async (t) => {
    const { emu, r53 } = await setup(t);
    const zoneId = await zone(r53);
    await change(r53, zoneId, [
      { Action: 'CREATE', ResourceRecordSet: a('www.example.com', '192.0.2.2', { SetIdentifier: 'two', Weight: 1 }) },
      { Action: 'CREATE', ResourceRecordSet: a('a.b.example.com', '192.0.2.3') },
      { Action: 'CREATE', ResourceRecordSet: a('www.example.com', '192.0.2.1', { SetIdentifier: 'one', Weight: 1 }) },
      { Action: 'CREATE', ResourceRecordSet: a('b.example.com', '192.0.2.4') },
      { Action: 'CREATE', ResourceRecordSet: a('b-c.example.com', '192.0.2.5') },
    ]);
    const expected = [
      'example.com. NS',
      'example.com. SOA',
      'b-c.example.com. A', // '-' sorts before '.': "com.example.b-c." < "com.example.b."
      'b.example.com. A',
      'a.b.example.com. A', // under b.example.com: "com.example.b.a."
      'www.example.com. A one',
      'www.example.com. A two',
    ];
    assert.deepEqual(await listAll(r53, zoneId), expected);

    const pages: string[][] = [];
    let start: { StartRecordName?: string; StartRecordType?: 'A' | 'NS' | 'SOA'; StartRecordIdentifier?: string } = {};
    const nexts: unknown[] = [];
    for (;;) {
      const page = await r53.send(new ListResourceRecordSetsCommand({ HostedZoneId: zoneId, MaxItems: 3, ...start }));
      assert.equal(page.MaxItems, 3);
      pages.push(page.ResourceRecordSets!.map((r) => `${r.Name} ${r.Type}${r.SetIdentifier ? ` ${r.SetIdentifier}` : ''}`));
      if (!page.IsTruncated) {
        assert.equal(page.NextRecordName, undefined);
        break;
      }
      nexts.push([page.NextRecordName, page.NextRecordType, page.NextRecordIdentifier]);
      start = { StartRecordName: page.NextRecordName!, StartRecordType: page.NextRecordType as 'A', StartRecordIdentifier: page.NextRecordIdentifier! };
      if (page.NextRecordIdentifier === undefined) delete start.StartRecordIdentifier;
    }
    assert.deepEqual(pages, [expected.slice(0, 3), expected.slice(3, 6), expected.slice(6)]);
    assert.deepEqual(nexts, [
      ['b.example.com.', 'A', undefined],
      ['www.example.com.', 'A', 'two'],
    ]);
    assert.deepEqual(
      emu.calls('ListResourceRecordSets').slice(-2).map((c) => [c.params.name, c.params.type, c.params.identifier, c.params.maxitems]),
      [
        ['b.example.com.', 'A', undefined, '3'],
        ['www.example.com.', 'A', 'two', '3'],
      ],
    );

    // A name alone starts at the first set at or after it; a type alone is refused.
    const fromName = await r53.send(new ListResourceRecordSetsCommand({ HostedZoneId: zoneId, StartRecordName: 'c.example.com' }));
    assert.deepEqual(fromName.ResourceRecordSets!.map((r) => r.SetIdentifier), ['one', 'two']);
    assert.equal(fromName.MaxItems, 300);
    assert.equal((await sdkError(r53.send(new ListResourceRecordSetsCommand({ HostedZoneId: zoneId, StartRecordType: 'A' })))).name, 'InvalidInput');
  });
});

describe('health checks', () => {
  test('CreateHealthCheck: CallerReference idempotency as documented (same settings → same check; other settings or a deleted check → HealthCheckAlreadyExists)', async (t) => {
    const { emu, r53 } = await setup(t);
    const first = await r53.send(new CreateHealthCheckCommand({ CallerReference: 'ref-1', HealthCheckConfig: HTTP_CHECK }));
    assert.equal(first.$metadata.httpStatusCode, 201);
    const check = first.HealthCheck!;
    assert.match(check.Id!, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    assert.equal(first.Location, `https://route53.amazonaws.com/2013-04-01/healthcheck/${check.Id}`);
    assert.equal(check.HealthCheckVersion, 1);
    assert.deepEqual(check.HealthCheckConfig, { ...HTTP_CHECK, RequestInterval: 30, FailureThreshold: 3, MeasureLatency: false, Inverted: false, Disabled: false });

    // The same settings again (stating a default makes no difference): the same check.
    const retry = await r53.send(new CreateHealthCheckCommand({ CallerReference: 'ref-1', HealthCheckConfig: { ...HTTP_CHECK, RequestInterval: 30 } }));
    assert.equal(retry.HealthCheck!.Id, check.Id);
    // Other settings under the same reference: refused.
    const other = await sdkError(r53.send(new CreateHealthCheckCommand({ CallerReference: 'ref-1', HealthCheckConfig: { ...HTTP_CHECK, Port: 8081 } })));
    assert.equal(other.name, 'HealthCheckAlreadyExists');
    assert.equal(other.$metadata.httpStatusCode, 409);
    // The same settings under another reference: a second check.
    const twin = await r53.send(new CreateHealthCheckCommand({ CallerReference: 'ref-2', HealthCheckConfig: HTTP_CHECK }));
    assert.notEqual(twin.HealthCheck!.Id, check.Id);
    assert.deepEqual(emu.healthChecks().map((c) => c.CallerReference), ['ref-1', 'ref-2']);

    assert.equal((await r53.send(new GetHealthCheckCommand({ HealthCheckId: check.Id! }))).HealthCheck!.CallerReference, 'ref-1');
    await r53.send(new DeleteHealthCheckCommand({ HealthCheckId: check.Id! }));
    // A deleted check's reference stays taken, whatever the settings.
    const afterDelete = await sdkError(r53.send(new CreateHealthCheckCommand({ CallerReference: 'ref-1', HealthCheckConfig: HTTP_CHECK })));
    assert.equal(afterDelete.name, 'HealthCheckAlreadyExists');
    assert.deepEqual(emu.healthChecks().map((c) => c.CallerReference), ['ref-2']);

    for (const err of [
      await sdkError(r53.send(new GetHealthCheckCommand({ HealthCheckId: check.Id! }))),
      await sdkError(r53.send(new DeleteHealthCheckCommand({ HealthCheckId: check.Id! }))),
      await sdkError(r53.send(new GetHealthCheckCommand({ HealthCheckId: 'no-such-check' }))),
    ]) {
      assert.equal(err.name, 'NoSuchHealthCheck');
      assert.equal(err.$metadata.httpStatusCode, 404);
    }
    const invalid = await sdkError(r53.send(new CreateHealthCheckCommand({ CallerReference: 'ref-3', HealthCheckConfig: { Type: 'HTTP', Port: 80 } })));
    assert.equal(invalid.name, 'InvalidInput');
  });

  test('DeleteHealthCheck does not check record sets that name the check (as AWS)', async (t) => {
    const { emu, r53 } = await setup(t);
    const zoneId = await zone(r53);
    const hc = (await r53.send(new CreateHealthCheckCommand({ CallerReference: 'hc', HealthCheckConfig: HTTP_CHECK }))).HealthCheck!.Id!;
    await change(r53, zoneId, [{ Action: 'CREATE', ResourceRecordSet: a('www.example.com', '192.0.2.1', { SetIdentifier: 'one', Weight: 1, HealthCheckId: hc }) }]);
    await r53.send(new DeleteHealthCheckCommand({ HealthCheckId: hc }));
    assert.equal(emu.recordSets(zoneId).find((s) => s.Type === 'A')!.HealthCheckId, hc);
    assert.deepEqual(emu.healthChecks(), []);
  });

  test('ListHealthChecks: MaxItems pages with Marker/NextMarker, default 100, max 1000; the SDK paginator walks them', async (t) => {
    const { r53 } = await setup(t);
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      ids.push((await r53.send(new CreateHealthCheckCommand({ CallerReference: `ref-${i}`, HealthCheckConfig: { ...HTTP_CHECK, Port: 8000 + i } }))).HealthCheck!.Id!);
    }
    const first = await r53.send(new ListHealthChecksCommand({ MaxItems: 2 }));
    assert.deepEqual(first.HealthChecks!.map((c) => c.Id), ids.slice(0, 2));
    assert.equal(first.IsTruncated, true);
    assert.equal(first.NextMarker, ids[2]);
    assert.equal(first.MaxItems, 2);
    const second = await r53.send(new ListHealthChecksCommand({ MaxItems: 2, Marker: first.NextMarker! }));
    assert.deepEqual(second.HealthChecks!.map((c) => c.Id), ids.slice(2, 4));
    assert.equal(second.Marker, ids[2]);

    const pages: string[][] = [];
    for await (const page of paginateListHealthChecks({ client: r53, pageSize: 2 }, {})) pages.push(page.HealthChecks!.map((c) => c.Id!));
    assert.deepEqual(pages, [ids.slice(0, 2), ids.slice(2, 4), ids.slice(4)]);

    const all = await r53.send(new ListHealthChecksCommand({}));
    assert.equal(all.MaxItems, 100);
    assert.equal(all.IsTruncated, false);
    assert.equal(all.NextMarker, undefined);
    assert.equal((await r53.send(new ListHealthChecksCommand({ MaxItems: 5000 }))).MaxItems, 1000);
  });
});

describe('faults, call log, admin route', () => {
  test('an injected throttle surfaces as the SDK throttling error and applies nothing; 5xx and access denied too', async (t) => {
    const { emu, r53 } = await setup(t);
    const zoneId = await zone(r53);
    emu.injectFault({ action: 'ChangeResourceRecordSets', kind: 'throttle' });
    const err = await sdkError(change(r53, zoneId, [{ Action: 'CREATE', ResourceRecordSet: a('www.example.com', '192.0.2.1') }]));
    assert.equal(err.name, 'Throttling');
    assert.equal(err.message, 'Rate exceeded');
    assert.equal(err.$metadata.httpStatusCode, 400);
    assert.equal(emu.recordSets(zoneId).length, 2);
    await change(r53, zoneId, [{ Action: 'CREATE', ResourceRecordSet: a('www.example.com', '192.0.2.1') }]); // used up
    assert.deepEqual(emu.calls('ChangeResourceRecordSets').map((c) => c.fault), ['throttle', undefined]);
    const params = emu.calls('ChangeResourceRecordSets')[1]!.params as { HostedZoneId: string; ChangeBatch: { Changes: { Action: string }[] } };
    assert.equal(`/hostedzone/${params.HostedZoneId}`, zoneId);
    assert.deepEqual(params.ChangeBatch.Changes.map((c) => c.Action), ['CREATE']);

    emu.injectFault({ action: 'ListHealthChecks', kind: 'server-error' });
    const serverErr = await sdkError(r53.send(new ListHealthChecksCommand({})));
    assert.equal(serverErr.$metadata.httpStatusCode, 500);
    assert.equal(serverErr.$fault, 'server');
    emu.injectFault({ action: 'GetHealthCheck', kind: 'access-denied' });
    const denied = await sdkError(r53.send(new GetHealthCheckCommand({ HealthCheckId: 'x' })));
    assert.equal(denied.name, 'AccessDenied');
    assert.equal(denied.$metadata.httpStatusCode, 403);
    emu.injectFault({ action: 'CreateHealthCheck', kind: 'drop-connection' });
    const dropped = (await sdkError(r53.send(new CreateHealthCheckCommand({ CallerReference: 'r', HealthCheckConfig: HTTP_CHECK })))) as SdkError & { code?: string };
    assert.equal(dropped.code, 'ECONNRESET');
    assert.deepEqual(emu.healthChecks(), []);
    // The admin API takes Route 53 operations as fault actions too.
    assert.deepEqual(parseFaultSpec({ action: 'ListResourceRecordSets', kind: 'throttle', times: 'Infinity' }), { action: 'ListResourceRecordSets', kind: 'throttle', times: Infinity });
  });

  test('AWS_ENDPOINT_URL_ROUTE_53 points an endpoint-less client at the emulator', async (t) => {
    const { emu } = await setup(t);
    const saved = process.env.AWS_ENDPOINT_URL_ROUTE_53;
    process.env.AWS_ENDPOINT_URL_ROUTE_53 = emu.url;
    t.after(() => {
      if (saved === undefined) delete process.env.AWS_ENDPOINT_URL_ROUTE_53;
      else process.env.AWS_ENDPOINT_URL_ROUTE_53 = saved;
    });
    const client = new Route53Client({ region: 'us-east-1', credentials: CREDENTIALS, maxAttempts: 1 });
    t.after(() => client.destroy());
    await client.send(new CreateHealthCheckCommand({ CallerReference: 'env', HealthCheckConfig: HTTP_CHECK }));
    assert.deepEqual(emu.healthChecks().map((c) => c.CallerReference), ['env']);
  });

  test('raw HTTP: ids with their /hostedzone/ prefix, the rrset/ path with a trailing slash, unknown routes, GET /_emulator/route53, reset', async (t) => {
    const { emu } = await setup(t);
    const zoneId = emu.createHostedZone('example.com');
    const body =
      '<?xml version="1.0" encoding="UTF-8"?><ChangeResourceRecordSetsRequest xmlns="https://route53.amazonaws.com/doc/2013-04-01/"><ChangeBatch><Changes>' +
      '<Change><Action>CREATE</Action><ResourceRecordSet><Name>txt.example.com</Name><Type>TXT</Type><TTL>60</TTL><ResourceRecords><ResourceRecord><Value>"a &amp; b"</Value></ResourceRecord></ResourceRecords></ResourceRecordSet></Change>' +
      '</Changes></ChangeBatch></ChangeResourceRecordSetsRequest>';
    const posted = await fetch(`${emu.url}/2013-04-01/hostedzone/${encodeURIComponent(`/hostedzone/${zoneId}`)}/rrset/`, { method: 'POST', body });
    assert.equal(posted.status, 200);
    assert.match(await posted.text(), /<ChangeResourceRecordSetsResponse xmlns="https:\/\/route53\.amazonaws\.com\/doc\/2013-04-01\/"><ChangeInfo><Id>\/change\/C/);
    assert.deepEqual(emu.recordSets(zoneId).find((s) => s.Type === 'TXT')!.ResourceRecords, [{ Value: '"a & b"' }]);

    const unknown = await fetch(`${emu.url}/2013-04-01/hostedzone`, { method: 'GET' });
    assert.equal(unknown.status, 404);
    assert.match(await unknown.text(), /<ErrorResponse xmlns="https:\/\/route53.amazonaws.com\/doc\/2013-04-01\/"><Error><Type>Sender<\/Type><Code>UnknownOperation<\/Code>/);
    const badXml = await fetch(`${emu.url}/2013-04-01/healthcheck`, { method: 'POST', body: '<CreateHealthCheckRequest><oops>' });
    assert.equal(badXml.status, 400);
    assert.match(await badXml.text(), /<Code>InvalidInput<\/Code>/);

    const admin = (await (await fetch(`${emu.url}/_emulator/route53`)).json()) as { hostedZones: { Id: string; Name: string; ResourceRecordSets: unknown[] }[]; healthChecks: unknown[] };
    assert.deepEqual(admin.hostedZones.map((z) => [z.Id, z.Name, z.ResourceRecordSets.length]), [[`/hostedzone/${zoneId}`, 'example.com.', 3]]);
    assert.deepEqual(admin.healthChecks, []);

    emu.reset();
    assert.throws(() => emu.recordSets(zoneId), /No hosted zone found/);
    assert.deepEqual(emu.healthChecks(), []);
  });
});
