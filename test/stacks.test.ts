// The CloudFormation stacks (stacks/*.yml), parsed with CloudFormation's short-form tags, and
// stack-up.sh run against a stub `aws` that records its arguments.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { PACKAGE_ROOT } from '../src/paths.js';
import { checkTemplateAgainstSpec } from './helpers/cfn-spec.js';
import { loadTemplate, type Obj } from './helpers/cfn-template.js';
import { bundleRegistrar } from '../dev/bundle-registrar.js';
import { registrarConfigFrom } from '../src/registrar/handler.js';
import { loadConfig } from '../src/config.js';
import { RECOMMENDED_STEP_POLICY, stepScalingSettings } from '../src/core/scaling.js';

const ROOT = PACKAGE_ROOT;

/** Every node of a parsed document, depth first. */
function* walk(node: unknown): Generator<unknown> {
  yield node;
  if (Array.isArray(node)) for (const x of node) yield* walk(x);
  else if (node !== null && typeof node === 'object') for (const x of Object.values(node)) yield* walk(x);
}
const asArray = <T>(x: T | T[] | undefined): T[] => (x === undefined ? [] : Array.isArray(x) ? x : [x]);

interface Statement {
  Sid?: string;
  Effect: string;
  Action?: string | string[];
  NotAction?: unknown;
  Resource: unknown;
  Condition?: Obj;
}
/** Every policy statement of every IAM role, with `!If [cond, stmt, NoValue]` entries unwrapped. */
function statementsOf(resource: Obj): Statement[] {
  const props = resource.Properties as Obj;
  const out: Statement[] = [];
  for (const policy of asArray(props.Policies as Obj[])) {
    for (const s of asArray((policy.PolicyDocument as Obj).Statement as unknown[])) {
      const iff = (s as Obj)['Fn::If'] as unknown[] | undefined;
      if (iff) out.push(...(iff.slice(1).filter((x) => !(x as Obj).Ref) as Statement[]));
      else out.push(s as Statement);
    }
  }
  return out;
}

/** The environment variable names src/config.ts reads. */
function configVariables(): Set<string> {
  const source = readFileSync(path.join(ROOT, 'src', 'config.ts'), 'utf8');
  const names = new Set<string>();
  // Every variable is the first argument of a reader (read, oneOf, port, seconds, ...) or of ConfigError.
  for (const m of source.matchAll(/\(\s*'([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*)'/g)) names.add(m[1]!);
  for (const m of source.matchAll(/\benv\.([A-Z][A-Z0-9_]*)/g)) names.add(m[1]!);
  return names;
}

/** References resolve: !Ref to a parameter, resource or pseudo parameter; !GetAtt to a resource; conditions defined. */
function assertReferencesResolve(t: Obj) {
  const params = Object.keys((t.Parameters as Obj) ?? {});
  const resources = (t.Resources as Obj) ?? {};
  const conditions = Object.keys((t.Conditions as Obj) ?? {});
  for (const node of walk(t)) {
    if (node === null || typeof node !== 'object' || Array.isArray(node)) continue;
    const o = node as Obj;
    if (typeof o.Ref === 'string' && Object.keys(o).length === 1) {
      assert.ok(o.Ref.startsWith('AWS::') || params.includes(o.Ref) || o.Ref in resources, `!Ref ${o.Ref} resolves`);
    }
    if (Array.isArray(o['Fn::GetAtt'])) assert.ok((o['Fn::GetAtt'][0] as string) in resources, `!GetAtt ${String(o['Fn::GetAtt'])} resolves`);
    if (Array.isArray(o['Fn::If'])) assert.ok(conditions.includes(o['Fn::If'][0] as string), `!If ${String(o['Fn::If'][0])} is a defined condition`);
  }
  for (const [name, r] of Object.entries(resources)) {
    const cond = (r as Obj).Condition;
    if (cond !== undefined) assert.ok(conditions.includes(cond as string), `${name}'s condition ${String(cond)} is defined`);
    for (const dep of asArray((r as Obj).DependsOn as string | string[])) {
      assert.ok(dep in resources, `${name} DependsOn ${dep}`);
      const depCondition = (resources[dep] as Obj).Condition;
      assert.ok(depCondition === undefined || depCondition === cond, `${name} DependsOn ${dep}, which must exist whenever ${name} does`);
    }
  }
}

/** Resources a resource needs (DependsOn, Ref, GetAtt, Sub), directly or through others: CloudFormation deletes it before them. */
function needs(resources: Record<string, Obj>, name: string): Set<string> {
  const direct = (n: string): string[] => {
    const r = resources[n]!;
    const out = new Set(asArray(r.DependsOn as string | string[]));
    for (const node of walk({ Properties: r.Properties, Metadata: r.Metadata })) {
      if (node === null || typeof node !== 'object' || Array.isArray(node)) continue;
      const o = node as Obj;
      if (typeof o.Ref === 'string') out.add(o.Ref);
      if (Array.isArray(o['Fn::GetAtt'])) out.add(o['Fn::GetAtt'][0] as string);
      const sub = o['Fn::Sub'];
      const text = typeof sub === 'string' ? sub : Array.isArray(sub) ? (sub[0] as string) : '';
      for (const m of text.matchAll(/\$\{([A-Za-z0-9]+)[.}]/g)) out.add(m[1]!);
    }
    return [...out].filter((x) => x in resources);
  };
  const seen = new Set<string>();
  const queue = direct(name);
  for (let i = 0; i < queue.length && i < 10_000; i++) {
    if (seen.has(queue[i]!)) continue;
    seen.add(queue[i]!);
    queue.push(...direct(queue[i]!));
  }
  return seen;
}

describe('stacks/ecr.yml', () => {
  const t = loadTemplate('stacks/ecr.yml');
  const resources = t.Resources as Record<string, Obj>;

  it('is a repository scanned on push, with immutable tags and a lifecycle policy', () => {
    assertReferencesResolve(t);
    const repo = resources.Repository!;
    assert.equal(repo.Type, 'AWS::ECR::Repository');
    const props = repo.Properties as Obj;
    assert.deepEqual(props.ImageScanningConfiguration, { ScanOnPush: true });
    assert.equal(props.ImageTagMutability, 'IMMUTABLE');
    assert.deepEqual(props.RepositoryName, { Ref: 'RepositoryName' });
    assert.equal((t.Parameters as Obj & { RepositoryName: Obj }).RepositoryName.Default, 'rtmp-proxy');
  });

  it('has a lifecycle policy that is valid JSON: untagged images expire, the newest N are kept', () => {
    const text = ((resources.Repository!.Properties as Obj).LifecyclePolicy as Obj).LifecyclePolicyText as Obj;
    const params = t.Parameters as Record<string, Obj>;
    const rendered = (text['Fn::Sub'] as string).replace(/\$\{(\w+)\}/g, (_, name: string) => String(params[name]!.Default));
    const policy = JSON.parse(rendered) as { rules: { rulePriority: number; selection: Obj; action: Obj }[] };
    const untagged = policy.rules.find((r) => r.selection.tagStatus === 'untagged');
    const any = policy.rules.find((r) => r.selection.tagStatus === 'any');
    assert.ok(untagged && any);
    assert.equal(untagged.selection.countType, 'sinceImagePushed');
    assert.equal(any.selection.countType, 'imageCountMoreThan');
    assert.equal(any.selection.countNumber, 30);
    // ECR requires the tagStatus "any" rule to have the highest rulePriority number.
    assert.ok(any.rulePriority > untagged.rulePriority);
    for (const r of policy.rules) assert.deepEqual(r.action, { type: 'expire' });
  });

  it('exports what the service stack imports', () => {
    const outputs = t.Outputs as Record<string, Obj>;
    assert.deepEqual((outputs.RepositoryUri!.Export as Obj).Name, { 'Fn::Sub': '${AWS::StackName}-RepositoryUri' });
    assert.deepEqual((outputs.RepositoryArn!.Export as Obj).Name, { 'Fn::Sub': '${AWS::StackName}-RepositoryArn' });
    const service = readFileSync(path.join(ROOT, 'stacks', 'service.yml'), 'utf8');
    assert.match(service, /\$\{EcrStackName\}-RepositoryUri/);
    assert.match(service, /\$\{EcrStackName\}-RepositoryArn/);
  });
});

describe('stacks/service.yml', () => {
  const t = loadTemplate('stacks/service.yml');
  const resources = t.Resources as Record<string, Obj>;
  const params = t.Parameters as Record<string, Obj>;
  const props = (name: string) => resources[name]!.Properties as Obj;
  const container = () => (props('TaskDefinition').ContainerDefinitions as Obj[])[0]!;

  it('has the resources of a Fargate service with its roles, log group, security group and DNS registrar', () => {
    assertReferencesResolve(t);
    const types = Object.fromEntries(Object.entries(resources).map(([k, v]) => [k, v.Type]));
    assert.deepEqual(
      {
        LogGroup: types.LogGroup,
        SecurityGroup: types.SecurityGroup,
        ExecutionRole: types.ExecutionRole,
        TaskRole: types.TaskRole,
        TaskDefinition: types.TaskDefinition,
        Service: types.Service,
        DnsFunction: types.DnsFunction,
        DnsRule: types.DnsRule,
      },
      {
        LogGroup: 'AWS::Logs::LogGroup',
        SecurityGroup: 'AWS::EC2::SecurityGroup',
        ExecutionRole: 'AWS::IAM::Role',
        TaskRole: 'AWS::IAM::Role',
        TaskDefinition: 'AWS::ECS::TaskDefinition',
        Service: 'AWS::ECS::Service',
        DnsFunction: 'AWS::Lambda::Function',
        DnsRule: 'AWS::Events::Rule',
      },
    );
    for (const p of ['VpcId', 'SubnetIds', 'ClusterName', 'DesiredCount', 'ImageVersion']) assert.ok(p in params, `parameter ${p}`);
    assert.equal(params.VpcId!.Type, 'AWS::EC2::VPC::Id');
    assert.equal(params.SubnetIds!.Type, 'List<AWS::EC2::Subnet::Id>');
  });

  it('never grants a wildcard action, and "*" resources only where the action has no resource-level permissions', () => {
    const wildcardResourceOk = new Set(['ecs:ListTasks', 'ec2:DescribeNetworkInterfaces', 'ecr:GetAuthorizationToken', 'route53:CreateHealthCheck', 'route53:ListHealthChecks', 'sqs:ListQueues', 'cloudwatch:PutMetricData']);
    let count = 0;
    for (const [name, r] of Object.entries(resources)) {
      if (r.Type !== 'AWS::IAM::Role') continue;
      for (const s of statementsOf(r)) {
        count++;
        assert.equal(s.Effect, 'Allow');
        assert.equal(s.NotAction, undefined, `${name}: no NotAction`);
        const actions = asArray(s.Action);
        assert.ok(actions.length > 0);
        for (const a of actions) assert.match(a, /^[a-z0-9-]+:[A-Za-z]+$/, `${name}: ${a} is one named action, no wildcard`);
        if (s.Resource === '*' || (Array.isArray(s.Resource) && s.Resource.includes('*'))) {
          for (const a of actions) assert.ok(wildcardResourceOk.has(a), `${name}: ${a} on Resource "*"`);
        }
      }
      const trust = (r.Properties as Obj).AssumeRolePolicyDocument as { Statement: Statement[] };
      for (const s of trust.Statement) assert.deepEqual(asArray(s.Action), ['sts:AssumeRole']);
    }
    assert.ok(count >= 10);
  });

  it("gives the task role only the fleet reads, scoped to the Servers' cluster, and the Proxies' own tasks", () => {
    const statements = statementsOf(resources.TaskRole!);
    const actions = statements.flatMap((s) => asArray(s.Action)).filter((a) => !/^(sqs|sns|cloudwatch):/.test(a)).sort();
    assert.deepEqual(actions, ['ec2:DescribeNetworkInterfaces', 'ecs:DescribeTasks', 'ecs:DescribeTasks', 'ecs:GetTaskProtection', 'ecs:ListTasks', 'ecs:UpdateTaskProtection']);
    const list = statements.find((s) => asArray(s.Action).includes('ecs:ListTasks'))!;
    const [servers, proxies] = (list.Condition!.ArnEquals as Obj)['ecs:cluster'] as Obj[];
    assert.match((servers!['Fn::Sub'] as unknown[])[0] as string, /:cluster\/\$\{Cluster\}$/);
    assert.match(proxies!['Fn::Sub'] as string, /:cluster\/\$\{ClusterName\}$/, "PROXY_SERVICE's tasks: the Proxies' own cluster");
    const describe = statements.find((s) => asArray(s.Action).includes('ecs:DescribeTasks'))!;
    assert.match(((describe.Resource as Obj)['Fn::Sub'] as unknown[])[0] as string, /:task\/\$\{Cluster\}\/\*$/);
    const describeProxies = statements.find((s) => s.Sid === 'DescribeProxyTasks')!;
    assert.deepEqual(asArray(describeProxies.Action), ['ecs:DescribeTasks'], 'read-only on the Proxies');
    assert.match((describeProxies.Resource as Obj)['Fn::Sub'] as string, /:task\/\$\{ClusterName\}\/\*$/);
    // ec2:DescribeNetworkInterfaces only when the Servers are reached by public IP.
    const policy = ((props('TaskRole').Policies as Obj[])[0]!.PolicyDocument as Obj).Statement as Obj[];
    const conditional = policy.find((s) => (s['Fn::If'] as unknown[] | undefined)?.[0] === 'PublicServers')!['Fn::If'] as unknown[];
    assert.equal(conditional[0], 'PublicServers');
    assert.deepEqual(asArray((conditional[1] as Statement).Action), ['ec2:DescribeNetworkInterfaces']);
    assert.deepEqual(conditional[2], { Ref: 'AWS::NoValue' });
  });

  it('opens 1935 and 8000 to the world, the peer ports 1936 and 8001 to the Proxies only, and maps all four', () => {
    const ingress = props('SecurityGroup').SecurityGroupIngress as Obj[];
    assert.deepEqual(
      ingress.map((r) => [r.IpProtocol, r.FromPort, r.ToPort]),
      [
        ['tcp', 1935, 1935],
        ['tcp', 8000, 8000],
      ],
    );
    // The health page: Route 53's managed prefix list for its checkers when given, else HealthCheckCidr.
    const health = ingress.find((r) => r.FromPort === 8000)!;
    assert.deepEqual(health.SourcePrefixListId, { 'Fn::If': ['HealthCheckersByPrefixList', { Ref: 'HealthCheckPrefixListId' }, { Ref: 'AWS::NoValue' }] });
    assert.deepEqual(health.CidrIp, { 'Fn::If': ['HealthCheckersByPrefixList', { Ref: 'AWS::NoValue' }, { Ref: 'HealthCheckCidr' }] });
    const peerRules = Object.entries(resources).filter(([name, r]) => r.Type === 'AWS::EC2::SecurityGroupIngress' && name !== 'RtmpsIngress').map(([, r]) => r.Properties as Obj);
    assert.deepEqual(peerRules.map((r) => [r.FromPort, r.ToPort]).sort(), [
      [1936, 1936],
      [8001, 8001],
    ]);
    for (const r of peerRules) {
      assert.deepEqual(r.GroupId, { Ref: 'SecurityGroup' });
      assert.deepEqual(r.SourceSecurityGroupId, { Ref: 'SecurityGroup' }, 'from the Proxy security group only');
      assert.equal(r.CidrIp, undefined, 'never from an address range');
    }
    const env = Object.fromEntries((container().Environment as Array<{ Name: string; Value: unknown }>).map((e) => [e.Name, e.Value]));
    assert.deepEqual([env.PEER_PORT, env.PEER_API_PORT], ['1936', '8001'], 'the ports the rules open');
    assert.deepEqual(env.PROXY_SERVICE, { Ref: 'AWS::StackName' }, "the service's own name");
    assert.deepEqual(
      (container().PortMappings as Obj[]).filter((p) => p['Fn::If'] === undefined).map((p) => [p.ContainerPort, p.Protocol]),
      [
        [1935, 'tcp'],
        [8000, 'tcp'],
        [1936, 'tcp'],
        [8001, 'tcp'],
      ],
    );
  });

  it('runs on Fargate with public IPs, stops with time to drain, and passes the daemon its settings', () => {
    const service = props('Service');
    assert.equal(service.LaunchType, 'FARGATE');
    assert.equal(((service.NetworkConfiguration as Obj).AwsvpcConfiguration as Obj).AssignPublicIp, 'ENABLED');
    assert.deepEqual(service.DesiredCount, { Ref: 'DesiredCount' });
    assert.deepEqual(props('TaskDefinition').RequiresCompatibilities, ['FARGATE']);
    assert.equal(props('TaskDefinition').NetworkMode, 'awsvpc');

    const c = container();
    assert.equal(c.StopTimeout, 120);
    const env = Object.fromEntries((c.Environment as Obj[]).map((e) => [e.Name as string, e.Value]));
    assert.ok(Number(env.SHUTDOWN_GRACE_SECONDS) < (c.StopTimeout as number), 'the daemon finishes before ECS kills it');
    const known = configVariables();
    assert.ok(known.has('DISCOVERY') && known.has('ECS_CLUSTER'), 'read the names from src/config.ts');
    for (const name of Object.keys(env)) assert.ok(known.has(name) || name === 'AWS_REGION', `${name} is a variable src/config.ts reads`);
    for (const name of ['DISCOVERY', 'ECS_CLUSTER', 'ECS_SERVICE', 'SERVER_PORT', 'SERVER_ADDRESS', 'SYNC_SCHEDULE', 'RTMP_PORT', 'HEALTH_PORT', 'SHUTDOWN_GRACE_SECONDS']) {
      assert.ok(name in env, `the task passes ${name}`);
    }
    assert.equal(env.DISCOVERY, 'ecs');
    assert.equal(env.RTMP_PORT, '1935');
    assert.equal(env.HEALTH_PORT, '8000');
    assert.deepEqual((c.HealthCheck as Obj).Command, ['CMD', '/app/src/entrypoint.sh', 'healthcheck']);
    assert.deepEqual(c.Image, { 'Fn::Join': [':', [{ 'Fn::ImportValue': { 'Fn::Sub': '${EcrStackName}-RepositoryUri' } }, { Ref: 'ImageVersion' }]] });
    assert.equal(((c.LogConfiguration as Obj).Options as Obj)['awslogs-group'] !== undefined, true);
  });

  it("ServerEvents: the Servers' task changes go to a topic each Proxy subscribes its own queue to, named and scoped alike", () => {
    const rule = props('ServerEventsRule');
    assert.deepEqual((rule.EventPattern as Obj)['detail-type'], ['ECS Task State Change']);
    assert.deepEqual((rule.Targets as Obj[])[0]!.Arn, { Ref: 'ServerEventsTopic' });
    const publish = ((props('ServerEventsTopicPolicy').PolicyDocument as Obj).Statement as Statement[])[0]!;
    assert.deepEqual(asArray(publish.Action), ['sns:Publish']);
    assert.deepEqual((publish.Condition!.ArnEquals as Obj)['aws:SourceArn'], [{ 'Fn::GetAtt': ['ServerEventsRule', 'Arn'] }, { 'Fn::GetAtt': ['ProxyEventsRule', 'Arn'] }], 'only these rules publish');
    assert.deepEqual(((props('ProxyEventsRule').EventPattern as Obj).detail as Obj).group, [{ 'Fn::Sub': 'service:${AWS::StackName}' }], "the Proxies' own changes: the Proxy list");
    for (const name of ['ServerEventsTopic', 'ServerEventsTopicPolicy', 'ServerEventsRule', 'ProxyEventsRule']) assert.equal(resources[name]!.Condition, 'UseServerEvents');
    const env = Object.fromEntries((container().Environment as { Name: string; Value: unknown }[]).map((e) => [e.Name, e.Value]));
    assert.deepEqual(env.EVENTS_TOPIC_ARN, { 'Fn::If': ['UseServerEvents', { Ref: 'ServerEventsTopic' }, ''] });
    assert.deepEqual(env.EVENTS_QUEUE_PREFIX, { 'Fn::Sub': '${AWS::StackName}-events-' });
    const own = statementsOf(resources.TaskRole!).find((s) => s.Sid === 'OwnEventQueue')!;
    assert.deepEqual(own.Resource, { 'Fn::Sub': 'arn:${AWS::Partition}:sqs:${AWS::Region}:${AWS::AccountId}:${AWS::StackName}-events-*' }, 'the role reaches exactly the queues EVENTS_QUEUE_PREFIX names');
    const unsubscribe = statementsOf(resources.TaskRole!).find((s) => asArray(s.Action).includes('sns:Unsubscribe'))!;
    assert.deepEqual(unsubscribe.Resource, { 'Fn::Sub': '${ServerEventsTopic}:*' }, "the topic's subscriptions only");
    // The daemon accepts what the stack sets (a stack name of 40 characters still leaves room for a task id).
    const config = loadConfig({ DISCOVERY: 'ecs', ECS_CLUSTER: 'media', EVENTS_TOPIC_ARN: 'arn:aws:sns:eu-west-1:123456789012:rtmp-proxy-service-server-events', EVENTS_QUEUE_PREFIX: `${'s'.repeat(40)}-events-`, FULL_SYNC_INTERVAL: String(params.FullSyncInterval!.Default), ECS_CONTAINER_METADATA_URI_V4: 'http://169.254.170.2/v4/x' });
    assert.equal(config.events?.fullSyncIntervalSeconds, 300);
  });

  it('RTMPS with a certificate secret: 443 open to the streamers, mapped, the secret injected as RTMPS_CERT and readable by ECS alone', () => {
    const rtmps = resources.RtmpsIngress!;
    assert.equal(rtmps.Condition, 'UseRtmps');
    assert.deepEqual([(rtmps.Properties as Obj).FromPort, (rtmps.Properties as Obj).CidrIp], [443, { Ref: 'StreamerCidr' }]);
    const c = container();
    assert.deepEqual(c.Secrets, { 'Fn::If': ['UseRtmps', [{ Name: 'RTMPS_CERT', ValueFrom: { Ref: 'RtmpsCertificateSecretArn' } }], { Ref: 'AWS::NoValue' }] });
    const mapped = (c.PortMappings as Obj[]).find((m) => (m as Obj)['Fn::If'] !== undefined)!['Fn::If'] as unknown[];
    assert.equal((mapped[1] as Obj).ContainerPort, 443);
    const env = Object.fromEntries((c.Environment as Array<{ Name: string; Value: unknown }>).map((e) => [e.Name, e.Value]));
    assert.equal(env.RTMPS_PORT, '443');
    const read = statementsOf(resources.ExecutionRole!).find((s) => s.Sid === 'ReadRtmpsCertificate')!;
    assert.deepEqual([asArray(read.Action), read.Resource], [['secretsmanager:GetSecretValue'], { Ref: 'RtmpsCertificateSecretArn' }]);
    assert.ok(!statementsOf(resources.TaskRole!).some((s) => asArray(s.Action).some((a) => a.startsWith('secretsmanager:'))), 'the daemon itself never reads the secret');
  });

  it('CapacityMetrics: the daemon publishes to its namespace only, the settings it reads', () => {
    const put = statementsOf(resources.TaskRole!).find((s) => s.Sid === 'PublishCapacityMetrics')!;
    assert.deepEqual(asArray(put.Action), ['cloudwatch:PutMetricData']);
    assert.deepEqual(put.Condition, { StringEquals: { 'cloudwatch:namespace': { Ref: 'CapacityMetricsNamespace' } } });
    const env = Object.fromEntries((container().Environment as { Name: string; Value: unknown }[]).map((e) => [e.Name, e.Value]));
    assert.deepEqual(env.CAPACITY_METRICS, { Ref: 'CapacityMetrics' });
    const config = loadConfig({ DISCOVERY: 'ecs', ECS_CLUSTER: 'media', CAPACITY_METRICS: String(params.CapacityMetrics!.Default), CAPACITY_METRICS_NAMESPACE: String(params.CapacityMetricsNamespace!.Default) });
    assert.equal(config.capacityMetrics?.namespace, 'RTMPProxy');
  });

  it('runs the registrar on task state changes and every minute, retries, and keeps failed runs in a dead-letter queue', () => {
    const queue = { 'Fn::GetAtt': ['DnsDeadLetterQueue', 'Arn'] };
    for (const rule of ['DnsRule', 'DnsSchedule']) {
      const [target] = props(rule).Targets as Obj[];
      assert.deepEqual(target!.Arn, { 'Fn::GetAtt': ['DnsFunction', 'Arn'] }, `${rule} invokes the registrar`);
      assert.deepEqual((target!.DeadLetterConfig as Obj).Arn, queue, `${rule}: undeliverable events are kept`);
      assert.ok(((target!.RetryPolicy as Obj).MaximumEventAgeInSeconds as number) <= 3600);
      const permission = Object.entries(resources).find(([, r]) => r.Type === 'AWS::Lambda::Permission' && ((r.Properties as Obj).SourceArn as Obj)['Fn::GetAtt']?.toString() === `${rule},Arn`);
      assert.ok(permission, `${rule} may invoke the function`);
    }
    assert.equal(props('DnsSchedule').ScheduleExpression, 'rate(1 minute)');
    const invoke = props('DnsEventInvokeConfig');
    assert.deepEqual(((invoke.DestinationConfig as Obj).OnFailure as Obj).Destination, queue, 'failed runs after their retries');
    assert.equal(invoke.MaximumRetryAttempts, 2);
    const queuePolicy = ((props('DnsDeadLetterQueuePolicy').PolicyDocument as Obj).Statement as Statement[])[0]!;
    assert.deepEqual((queuePolicy.Condition!.ArnEquals as Obj)['aws:SourceArn'], [{ 'Fn::GetAtt': ['DnsRule', 'Arn'] }, { 'Fn::GetAtt': ['DnsSchedule', 'Arn'] }]);
    assert.deepEqual((queuePolicy as unknown as Obj).Principal, { Service: 'events.amazonaws.com' });
  });

  it('deletes in an order that leaves nothing behind: Service and rules first, then the registrations, then the function', () => {
    const dns = ['DnsRule', 'DnsSchedule', 'DnsRegistrations', 'DnsFunction', 'DnsDeadLetterQueue'];
    for (const name of dns) assert.equal(resources[name]!.Condition, 'CreateDns', `${name} exists only with DNS`);
    assert.deepEqual(props('DnsRegistrations').ServiceToken, { 'Fn::GetAtt': ['DnsFunction', 'Arn'] });
    for (const first of ['Service', 'DnsRule', 'DnsSchedule']) assert.ok(needs(resources, first).has('DnsRegistrations'), `${first} is deleted before the registrations are removed`);
    const registrations = needs(resources, 'DnsRegistrations');
    for (const later of ['DnsFunction', 'DnsFunctionRole', 'DnsLogGroup']) assert.ok(registrations.has(later), `${later} outlives the clean-up`);
    assert.ok(!registrations.has('Service') && !registrations.has('DnsRule'), 'no cycle');
  });

  it("gives the registrar only what it uses: its cluster's tasks, its record name and type, health checks", () => {
    const statements = statementsOf(resources.DnsFunctionRole!);
    const actions = statements.flatMap((s) => asArray(s.Action)).sort();
    assert.deepEqual(actions, [
      'ec2:DescribeNetworkInterfaces',
      'ecs:DescribeTasks',
      'ecs:ListTasks',
      'logs:CreateLogStream',
      'logs:PutLogEvents',
      'route53:ChangeResourceRecordSets',
      'route53:CreateHealthCheck',
      'route53:DeleteHealthCheck',
      'route53:ListHealthChecks',
      'route53:ListResourceRecordSets',
      'sqs:SendMessage',
    ]);
    const change = statements.find((s) => asArray(s.Action).includes('route53:ChangeResourceRecordSets'))!;
    assert.deepEqual(change.Condition, {
      'ForAllValues:StringEquals': { 'route53:ChangeResourceRecordSetsNormalizedRecordNames': [{ Ref: 'RecordName' }], 'route53:ChangeResourceRecordSetsRecordTypes': ['A'] },
    });
    const list = statements.find((s) => asArray(s.Action).includes('ecs:ListTasks'))!;
    assert.match((list.Condition!.ArnEquals as Obj)['ecs:cluster'] ? (((list.Condition!.ArnEquals as Obj)['ecs:cluster'] as Obj)['Fn::Sub'] as string) : '', /:cluster\/\$\{ClusterName\}$/);
  });

  it("sets every variable the registrar requires, with values it accepts", () => {
    const vars = (props('DnsFunction').Environment as Obj).Variables as Obj;
    // Stand-ins for what CloudFormation resolves at deploy time.
    const resolved = Object.fromEntries(
      Object.entries(vars).map(([k, v]) => {
        const ref = typeof v === 'object' && v !== null ? (v as Obj).Ref : undefined;
        const sample: Record<string, string> = { HostedZoneId: 'Z0123456789ABC', RecordName: 'rtmp.example.com', RecordTtl: String(params.RecordTtl!.Default), ClusterName: 'live', 'AWS::StackName': 'rtmp-proxy-service' };
        return [k, typeof v === 'string' ? v : sample[ref as string] ?? assert.fail(`${k}: no sample for ${JSON.stringify(v)}`)];
      }),
    );
    const config = registrarConfigFrom({ ...resolved, AWS_REGION: 'eu-west-1' });
    assert.equal(config.service, 'rtmp-proxy-service', 'the Proxy service is this stack');
    assert.equal(config.settings.healthPort, 8000);
    assert.equal(config.settings.recordName, 'rtmp.example.com.');
  });

  it('carries the registrar built from src/registrar (npm run build:registrar)', async () => {
    const code = ((props('DnsFunction').Code as Obj).ZipFile as string).replace(/\n$/, '');
    assert.equal(code, (await bundleRegistrar()).replace(/\n$/, ''), 'stacks/service.yml is out of date: run `npm run build:registrar`');
  });

  it("follows only this service's task state changes", () => {
    const pattern = props('DnsRule').EventPattern as Obj;
    assert.deepEqual(pattern.source, ['aws.ecs']);
    assert.deepEqual(pattern['detail-type'], ['ECS Task State Change']);
    assert.deepEqual((pattern.detail as Obj).group, [{ 'Fn::Sub': 'service:${AWS::StackName}' }]);
    assert.deepEqual(props('Service').ServiceName, { Ref: 'AWS::StackName' });
  });
});

describe('stacks/server-scaling.yml', () => {
  const t = loadTemplate('stacks/server-scaling.yml');
  const resources = t.Resources as Record<string, Obj>;
  const params = t.Parameters as Record<string, Obj>;
  const props = (name: string) => resources[name]!.Properties as Obj;

  it('deploys the policy the simulator chose (bench section 9): the same steps, thresholds and defaults', () => {
    assertReferencesResolve(t);
    const settings = stepScalingSettings(RECOMMENDED_STEP_POLICY);
    const steps = ((props('ScaleOutPolicy').StepScalingPolicyConfiguration as Obj).StepAdjustments as Obj[]).map((s) => ({
      ...(s.MetricIntervalLowerBound !== undefined && { lower: s.MetricIntervalLowerBound }),
      upper: s.MetricIntervalUpperBound,
      adjustment: s.ScalingAdjustment,
    }));
    assert.deepEqual(steps, settings.scaleOut.steps);
    const defaults = Object.fromEntries(Object.entries(params).map(([k, v]) => [k, v.Default]));
    assert.deepEqual(
      { min: defaults.MinServers, max: defaults.MaxServers, headroom: defaults.Headroom, inMargin: defaults.ScaleInMargin, inEvaluationMinutes: defaults.ScaleInMinutes, inStep: defaults.ScaleInStep, inCooldownS: defaults.ScaleInCooldown, outCooldownS: defaults.ScaleOutCooldown },
      { min: settings.min, max: settings.max, headroom: settings.scaleOut.threshold, inMargin: RECOMMENDED_STEP_POLICY.inMargin, inEvaluationMinutes: settings.scaleIn.evaluationPeriods, inStep: RECOMMENDED_STEP_POLICY.inStep, inCooldownS: settings.scaleIn.cooldownS, outCooldownS: settings.scaleOut.cooldownS },
    );
    assert.equal(props('FreeServersLowAlarm').ComparisonOperator, settings.scaleOut.comparison);
    assert.equal(props('FreeServersHighAlarm').ComparisonOperator, settings.scaleIn.comparison);
    assert.deepEqual((props('ScaleInPolicy').StepScalingPolicyConfiguration as Obj).StepAdjustments, [{ MetricIntervalLowerBound: 0, ScalingAdjustment: { 'Fn::Sub': '-${ScaleInStep}' } }]);
  });

  it("alarms on the fleet's ServersFree as the Proxies publish it: their namespace, Cluster and Service, Sum per minute", () => {
    const low = props('FreeServersLowAlarm');
    assert.deepEqual([low.MetricName, low.Statistic, low.Period, low.Threshold], ['ServersFree', 'Sum', 60, { Ref: 'Headroom' }]);
    assert.deepEqual(low.AlarmActions, [{ Ref: 'ScaleOutPolicy' }]);
    assert.deepEqual(props('FreeServersHighAlarm').AlarmActions, [{ Ref: 'ScaleInPolicy' }]);
    const dimensions = (low.Dimensions as Array<{ Name: string }>).map((d) => d.Name);
    const config = loadConfig({ DISCOVERY: 'ecs', ECS_CLUSTER: 'media', ECS_SERVICE: 'rtmp-server', CAPACITY_METRICS: 'on' });
    assert.deepEqual(dimensions, Object.keys(config.capacityMetrics!.dimensions), 'the dimensions the daemon publishes with');
    assert.equal(params.CapacityMetricsNamespace!.Default, config.capacityMetrics!.namespace);
    for (const name of ['FreeServersLowAlarm', 'FreeServersHighAlarm']) assert.equal(props(name).TreatMissingData, 'notBreaching', `${name}: no data, no scaling`);
    const math = (props('FreeServersHighAlarm').Metrics as Obj[]).find((m) => m.Expression !== undefined)!;
    assert.deepEqual(math.Expression, { 'Fn::Sub': 'free - ${ScaleInMargin}' });
  });

  it('uses the service-linked role (no IAM of its own) and scales the named ECS service', () => {
    assert.ok(!Object.values(resources).some((r) => r.Type === 'AWS::IAM::Role'));
    assert.equal(props('ScalableTarget').RoleARN, undefined);
    assert.deepEqual(props('ScalableTarget').ResourceId, { 'Fn::Sub': 'service/${ServerClusterName}/${ServerServiceName}' });
    assert.equal(props('ScalableTarget').ScalableDimension, 'ecs:service:DesiredCount');
  });
});

// ---- stack-up.sh with a stub aws ----
describe('stack-up.sh', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'rtmp-proxy-stackup-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const log = path.join(dir, 'calls.log');
  writeFileSync(path.join(dir, 'aws'), `#!/bin/sh\n{ printf 'aws'; for a in "$@"; do printf '\\t%s' "$a"; done; printf '\\n'; } >> "${log}"\n`);
  chmodSync(path.join(dir, 'aws'), 0o755);

  const run = (args: string[], env: Record<string, string> = {}) => {
    rmSync(log, { force: true });
    const r = spawnSync('sh', [path.join(ROOT, 'stack-up.sh'), ...args], {
      cwd: tmpdir(),
      env: { PATH: `${dir}:${process.env.PATH}`, HOME: dir, ...env },
      encoding: 'utf8',
      timeout: 10_000,
    });
    let calls: string[][] = [];
    try {
      calls = readFileSync(log, 'utf8').trim().split('\n').filter(Boolean).map((l) => l.split('\t'));
    } catch {
      /* not called */
    }
    return { status: r.status, stderr: r.stderr, calls };
  };
  const base = (stack: string, prefix = 'rtmp-proxy') => [
    'aws',
    'cloudformation',
    'deploy',
    '--template-file',
    `stacks/${stack}.yml`,
    '--stack-name',
    `${prefix}-${stack}`,
    '--capabilities',
    'CAPABILITY_NAMED_IAM',
    '--no-fail-on-empty-changeset',
    '--tags',
    'app=rtmp-proxy',
  ];

  it('deploys the ecr stack, its repository named after the prefix', () => {
    const r = run(['ecr']);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(r.calls, [[...base('ecr'), '--parameter-overrides', 'RepositoryName=rtmp-proxy']]);
  });

  it('deploys the service stack with the overrides, pointing it at the ecr stack', () => {
    const r = run(['service', 'ImageVersion=1.2.3', 'ClusterName=live', 'SubnetIds=subnet-a,subnet-b']);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(r.calls, [
      [...base('service'), '--parameter-overrides', 'EcrStackName=rtmp-proxy-ecr', 'ImageVersion=1.2.3', 'ClusterName=live', 'SubnetIds=subnet-a,subnet-b'],
    ]);
  });

  it('deploys the optional server-scaling stack with its overrides', () => {
    const r = run(['server-scaling', 'ServerClusterName=media', 'ServerServiceName=rtmp-server']);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(r.calls, [[...base('server-scaling'), '--parameter-overrides', 'ServerClusterName=media', 'ServerServiceName=rtmp-server']]);
  });

  it('names the stacks and the repository by STACK_PREFIX (an independent set), and keeps an explicit EcrStackName or RepositoryName', () => {
    assert.deepEqual(run(['ecr'], { STACK_PREFIX: 'staging' }).calls, [[...base('ecr', 'staging'), '--parameter-overrides', 'RepositoryName=staging']]);
    assert.deepEqual(run(['ecr', 'RepositoryName=shared'], { STACK_PREFIX: 'staging' }).calls, [[...base('ecr', 'staging'), '--parameter-overrides', 'RepositoryName=shared']]);
    const r = run(['service', 'EcrStackName=shared-ecr', 'ImageVersion=2.0.0'], { STACK_PREFIX: 'staging' });
    assert.deepEqual(r.calls, [[...base('service', 'staging'), '--parameter-overrides', 'EcrStackName=shared-ecr', 'ImageVersion=2.0.0']]);
  });

  it('refuses a wrong stack or a malformed override with the usage and exit code 2, calling nothing', () => {
    for (const args of [[], ['ecs'], ['service', 'ImageVersion'], ['ecr', '--force'], ['service', 'Image Version=1']]) {
      const r = run(args);
      assert.equal(r.status, 2, `${JSON.stringify(args)}: ${r.stderr}`);
      assert.deepEqual(r.calls, [], JSON.stringify(args));
      assert.match(r.stderr, /usage: sh \.\/stack-up\.sh ecr\|service|is not Key=Value/);
    }
  });

  it('passes aws failures through', () => {
    writeFileSync(path.join(dir, 'aws'), '#!/bin/sh\necho "An error occurred (ValidationError)" >&2\nexit 254\n');
    const r = run(['ecr']);
    assert.equal(r.status, 254);
  });
});

describe('shell scripts', () => {
  const shellcheck = spawnSync('shellcheck', ['--version']);
  it('are shellcheck clean', { skip: shellcheck.error ? 'shellcheck is not installed (Debian package shellcheck; test/ensure-deps.sh installs it)' : false }, () => {
    const r = spawnSync('shellcheck', ['--shell=sh', 'stack-up.sh', 'stacks/deploy.sh', 'src/entrypoint.sh'], { cwd: ROOT, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stdout + r.stderr);
  });
});

describe("the stacks against AWS's resource specification (@aws-cdk/aws-service-spec)", () => {
  for (const file of ['stacks/ecr.yml', 'stacks/service.yml', 'stacks/server-scaling.yml']) {
    it(`${file}: every type, property (and its shape), required property, attribute and !Sub reference is in the specification`, () => {
      assert.deepEqual(checkTemplateAgainstSpec(loadTemplate(file)), []);
    });
  }

  it('a deliberately broken copy fails, each defect named', () => {
    const t = structuredClone(loadTemplate('stacks/service.yml'));
    const resources = t.Resources as Record<string, Obj>;
    const sg = resources.SecurityGroup!.Properties as Obj;
    delete sg.GroupDescription;
    sg.GroupDescriptoin = 'typo';
    (resources.LogGroup!.Properties as Obj).RetentionInDays = 'forever';
    resources.Extra = { Type: 'AWS::EC2::SecurityGroupp', Properties: {} };
    (t.Outputs as Obj).Broken = { Value: { 'Fn::GetAtt': ['LogGroup', 'Nope'] } };
    (t.Outputs as Obj).BrokenSub = { Value: { 'Fn::Sub': 'arn:${Nowhere}' } };
    const errors = checkTemplateAgainstSpec(t);
    for (const expected of [
      /^SecurityGroup\.Properties\.GroupDescription: required, missing$/,
      /^SecurityGroup\.Properties\.GroupDescriptoin: no such property$/,
      /^LogGroup\.Properties\.RetentionInDays: a number, not "forever"$/,
      /^Extra: no resource type AWS::EC2::SecurityGroupp$/,
      /!GetAtt LogGroup\.Nope: AWS::Logs::LogGroup has no attribute Nope$/,
      /!Sub \$\{Nowhere\} resolves to nothing$/,
    ]) {
      assert.ok(errors.some((e) => expected.test(e)), `${expected} in:\n${errors.join('\n')}`);
    }
    assert.equal(errors.length, 6, errors.join('\n'));
  });
});
