// The Route 53 registrar's decision (src/registrar/plan.ts): what Route 53 must change to match the
// running Proxies, touching only what carries this stack's mark.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { HealthCheck, ResourceRecordSet } from '@aws-sdk/client-route-53';
import {
  callerReferenceFor,
  healthCheckConfigFor,
  isEmptyPlan,
  ownerPrefix,
  parseCallerReference,
  planRegistrations,
  setIdentifierFor,
  type RegistrarSettings,
} from '../src/registrar/plan.js';

const settings: RegistrarSettings = {
  recordName: 'rtmp.example.com.',
  ttl: 60,
  weight: 10,
  healthPort: 8000,
  healthPath: '/',
  owner: ownerPrefix('eu-west-1', 'rtmp-proxy-service'),
};
const A = '0123456789abcdef0123456789abcdef';
const B = 'fedcba9876543210fedcba9876543210';

function check(id: string, taskId: string, ip: string, generation = 1, config = healthCheckConfigFor(settings, ip)): HealthCheck {
  return { Id: id, CallerReference: callerReferenceFor(settings, taskId, generation), HealthCheckConfig: config, HealthCheckVersion: 1 };
}
function record(taskId: string, ip: string, healthCheckId: string, over: Partial<ResourceRecordSet> = {}): ResourceRecordSet {
  return {
    Name: 'rtmp.example.com.',
    Type: 'A',
    SetIdentifier: setIdentifierFor(settings, taskId),
    Weight: 10,
    TTL: 60,
    ResourceRecords: [{ Value: ip }],
    HealthCheckId: healthCheckId,
    ...over,
  };
}

describe('planRegistrations', () => {
  const cases: { name: string; endpoints: { taskId: string; ip: string }[]; records?: ResourceRecordSet[]; checks?: HealthCheck[]; expect: unknown }[] = [
    { name: 'nothing running, nothing registered', endpoints: [], expect: { register: [], deregister: [], deleteHealthChecks: [], unchanged: 0 } },
    {
      name: 'a new Proxy: its health check is created first (generation 1), then its record',
      endpoints: [{ taskId: A, ip: '203.0.113.7' }],
      expect: {
        register: [{ endpoint: { taskId: A, ip: '203.0.113.7' }, healthCheck: { create: `${settings.owner}${A}`, config: healthCheckConfigFor(settings, '203.0.113.7') } }],
        deregister: [],
        deleteHealthChecks: [],
        unchanged: 0,
      },
    },
    {
      name: 'registered and right: nothing to do',
      endpoints: [{ taskId: A, ip: '203.0.113.7' }],
      records: [record(A, '203.0.113.7', 'hc-a')],
      checks: [check('hc-a', A, '203.0.113.7')],
      expect: { register: [], deregister: [], deleteHealthChecks: [], unchanged: 1 },
    },
    {
      name: 'a Proxy that left: its record (exactly as listed) and then its health check go',
      endpoints: [],
      records: [record(A, '203.0.113.7', 'hc-a')],
      checks: [check('hc-a', A, '203.0.113.7')],
      expect: { register: [], deregister: [record(A, '203.0.113.7', 'hc-a')], deleteHealthChecks: ['hc-a'], unchanged: 0 },
    },
    {
      name: 'a health check left by a run that stopped before its record change is reused, not duplicated',
      endpoints: [{ taskId: A, ip: '203.0.113.7' }],
      checks: [check('hc-a', A, '203.0.113.7')],
      expect: { register: [{ endpoint: { taskId: A, ip: '203.0.113.7' }, healthCheck: { id: 'hc-a' } }], deregister: [], deleteHealthChecks: [], unchanged: 0 },
    },
    {
      name: 'an orphaned health check of a Proxy that is gone is deleted',
      endpoints: [],
      checks: [check('hc-b', B, '203.0.113.8', 3)],
      expect: { register: [], deregister: [], deleteHealthChecks: ['hc-b'], unchanged: 0 },
    },
    {
      name: 'new settings (TTL): the record is rewritten with the same health check',
      endpoints: [{ taskId: A, ip: '203.0.113.7' }],
      records: [record(A, '203.0.113.7', 'hc-a', { TTL: 300 })],
      checks: [check('hc-a', A, '203.0.113.7')],
      expect: { register: [{ endpoint: { taskId: A, ip: '203.0.113.7' }, healthCheck: { id: 'hc-a' } }], deregister: [], deleteHealthChecks: [], unchanged: 0 },
    },
    {
      name: 'a health check with other settings (port): the next generation replaces it, the old one goes after the record change',
      endpoints: [{ taskId: A, ip: '203.0.113.7' }],
      records: [record(A, '203.0.113.7', 'hc-a')],
      checks: [check('hc-a', A, '203.0.113.7', 1, { ...healthCheckConfigFor(settings, '203.0.113.7'), Port: 9000 })],
      expect: {
        register: [{ endpoint: { taskId: A, ip: '203.0.113.7' }, healthCheck: { create: `${settings.owner}${A}.2`, config: healthCheckConfigFor(settings, '203.0.113.7') } }],
        deregister: [],
        deleteHealthChecks: ['hc-a'],
        unchanged: 0,
      },
    },
    {
      name: 'a record whose health check was deleted by hand gets a new one',
      endpoints: [{ taskId: A, ip: '203.0.113.7' }],
      records: [record(A, '203.0.113.7', 'hc-gone')],
      expect: {
        register: [{ endpoint: { taskId: A, ip: '203.0.113.7' }, healthCheck: { create: `${settings.owner}${A}`, config: healthCheckConfigFor(settings, '203.0.113.7') } }],
        deregister: [],
        deleteHealthChecks: [],
        unchanged: 0,
      },
    },
    {
      name: 'two fitting health checks (concurrent runs): the record keeps its own, the other goes',
      endpoints: [{ taskId: A, ip: '203.0.113.7' }],
      records: [record(A, '203.0.113.7', 'hc-2')],
      checks: [check('hc-1', A, '203.0.113.7', 1), check('hc-2', A, '203.0.113.7', 2)],
      expect: { register: [], deregister: [], deleteHealthChecks: ['hc-1'], unchanged: 1 },
    },
    {
      name: "what is not ours is never touched: another stack's mark, another name, another type, an unweighted record, foreign health checks",
      endpoints: [],
      records: [
        record(A, '203.0.113.7', 'hc-x', { SetIdentifier: `${ownerPrefix('us-east-1', 'rtmp-proxy-service')}${A}` }),
        record(A, '203.0.113.7', 'hc-x', { Name: 'other.example.com.' }),
        record(A, '2001:db8::1', 'hc-x', { Type: 'AAAA' }),
        { Name: 'rtmp.example.com.', Type: 'A', TTL: 60, ResourceRecords: [{ Value: '198.51.100.1' }] },
        record(A, '203.0.113.7', 'hc-x', { SetIdentifier: 'fallback' }),
      ],
      checks: [
        { Id: 'hc-x', CallerReference: `${ownerPrefix('us-east-1', 'rtmp-proxy-service')}${A}`, HealthCheckConfig: healthCheckConfigFor(settings, '203.0.113.7'), HealthCheckVersion: 1 },
        { Id: 'hc-y', CallerReference: 'terraform-2024', HealthCheckConfig: healthCheckConfigFor(settings, '203.0.113.9'), HealthCheckVersion: 1 },
      ],
      expect: { register: [], deregister: [], deleteHealthChecks: [], unchanged: 0 },
    },
    {
      name: 'the same task listed twice is registered once',
      endpoints: [
        { taskId: B, ip: '203.0.113.8' },
        { taskId: B, ip: '203.0.113.8' },
      ],
      records: [record(B, '203.0.113.8', 'hc-b')],
      checks: [check('hc-b', B, '203.0.113.8')],
      expect: { register: [], deregister: [], deleteHealthChecks: [], unchanged: 1 },
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const plan = planRegistrations(settings, c.endpoints, { records: c.records ?? [], healthChecks: c.checks ?? [] });
      assert.deepEqual(plan, c.expect);
      assert.equal(isEmptyPlan(plan), plan.register.length + plan.deregister.length + plan.deleteHealthChecks.length === 0);
    });
  }

  it('a record name written in capitals or without the trailing dot is still ours', () => {
    const plan = planRegistrations(settings, [], { records: [record(A, '203.0.113.7', 'hc-a', { Name: 'RTMP.Example.com' })], healthChecks: [] });
    assert.equal(plan.deregister.length, 1);
  });
});

describe('the mark', () => {
  it('differs per Region and per stack, and leaves room for a task id and a generation in a 64-character CallerReference', () => {
    const marks = new Set([ownerPrefix('eu-west-1', 'a'), ownerPrefix('us-east-1', 'a'), ownerPrefix('eu-west-1', 'b')]);
    assert.equal(marks.size, 3);
    assert.equal(ownerPrefix('eu-west-1', 'a'), ownerPrefix('eu-west-1', 'a'), 'stable: a re-created stack adopts what it left');
    assert.ok(callerReferenceFor(settings, A, 999_999).length <= 64);
  });

  it('CallerReference round-trips task id and generation; anything else is not ours', () => {
    assert.deepEqual(parseCallerReference(settings, callerReferenceFor(settings, A, 1)), { taskId: A, generation: 1 });
    assert.deepEqual(parseCallerReference(settings, callerReferenceFor(settings, A, 7)), { taskId: A, generation: 7 });
    for (const foreign of [`${ownerPrefix('us-east-1', 'x')}${A}`, `${settings.owner}`, `${settings.owner}${A}.0`, `${settings.owner}a/b`, 'rtmp-proxy-']) {
      assert.equal(parseCallerReference(settings, foreign), undefined, foreign);
    }
  });
});
