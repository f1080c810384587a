import path from 'node:path';
import cron from 'node-cron';
import { parseStaticServers, type StaticServerSpec } from './discovery/static.js';
import { isIpLiteral, isValidPort } from './model.js';
import { DEFAULT_HAPROXY_BIN, IMAGE_DEFAULTS, PACKAGE_ROOT } from './paths.js';

export type DiscoveryKind = 'ecs' | 'static';
export type AddressMode = 'private' | 'public';
export type ApplyMode = 'runtime' | 'reload';

export interface Config {
  discovery: DiscoveryKind;
  ecsCluster?: string;
  ecsService?: string;
  serverPort: number;
  serverAddress: AddressMode;
  /**
   * Route only to tasks ECS reports HEALTHY (their container health check passed), not merely not
   * UNHEALTHY: a Server that is RUNNING before it listens is otherwise "up" in HAProxy too early.
   */
  serverRequireHealthy: boolean;
  staticServers: StaticServerSpec[];
  syncSchedule: string;
  applyMode: ApplyMode;
  bindAddress: string;
  rtmpPort: number;
  healthPort: number;
  haproxyBin: string;
  haproxyConfig: string;
  haproxyPidfile: string;
  haproxySocket: string;
  haproxyMasterSocket: string;
  haproxyTemplate: string;
  healthPage: string;
  /** HAProxy map the health frontend reads its state from; the daemon flips it over the admin socket. */
  haproxyHealthMap: string;
  shutdownGraceSeconds: number;
  /** A drop of more than this share of the fleet in one sync waits for the next sync to confirm it. */
  maxDropPercent: number;
  /** Health answers 503 while no Server is free, so Route53 sends no streamer to a full Proxy. */
  healthRequireCapacity: boolean;
  /** Send the PROXY protocol header to the Servers (they then see the streamer's address). */
  serverSendProxy: boolean;
  /** Prometheus metrics port on BIND_ADDRESS; undefined = off. */
  metricsPort?: number;
  /** HAProxy's own Prometheus exporter port on BIND_ADDRESS; undefined = off (the default). */
  haproxyMetricsPort?: number;
  /** Protect the ECS tasks of Servers that carry a stream through this Proxy from scale-in. */
  taskProtection: boolean;
  /** How long each protection lasts; renewed while the stream goes on (ECS allows 1 to 2880). */
  protectionMinutes: number;
  /** Seconds a removed Server may keep its stream before it is cut; undefined = until it ends. */
  serverDrainTimeoutSeconds?: number;
  /** Each Server's status page, polled to keep Servers streaming through other Proxies out of rotation. */
  busyCheck?: BusyCheckConfig;
  /** Several Proxies in front of one fleet: each Server owned by one of them (PROXY_SERVICE). */
  peering?: PeeringConfig;
  /** ECS task state change events (EVENTS_TOPIC_ARN or EVENTS_QUEUE_URL): changes apply as they happen. */
  events?: EventsConfig;
  /** RTMP_HANDSHAKE_TIMEOUT: how long a connection has to send RTMP's C0 + C1 before it may take a Server; undefined = the gate is off. */
  handshakeTimeoutSeconds?: number;
  /** SOURCE_MAX_STREAMS: connections one source address may hold at once; undefined = no limit. */
  sourceMaxStreams?: number;
  /** SOURCE_MAX_CONNECT_RATE: new connections one source address may open per 10 s; undefined = no limit. */
  sourceMaxConnectRate?: number;
  /** CAPACITY_METRICS=on: this Proxy's share of the fleet's capacity to CloudWatch every period. */
  capacityMetrics?: CapacityMetricsConfig;
  /** RTMPS on RTMPS_PORT, TLS terminated in HAProxy with RTMPS_CERT_FILE or RTMPS_CERT (checked at start). */
  rtmps?: { port: number; certFile?: string; certPem?: string };
  logLevel: string;
}

export interface CapacityMetricsConfig {
  namespace: string;
  periodSeconds: number;
  /** Cluster (and Service with ECS_SERVICE): the Server fleet the figures are of. */
  dimensions: Record<string, string>;
}

export interface EventsConfig {
  /** The SNS topic the events arrive on: this Proxy makes its own queue and subscribes it. */
  topicArn?: string;
  /** Or a queue made elsewhere, polled as it is. */
  queueUrl?: string;
  /** This Proxy's queue is `<queuePrefix><task id>`; queues with the prefix whose Proxy is gone are removed. */
  queuePrefix: string;
  /** With events, the full ECS listing runs this often (and at every sync while the queue fails). */
  fullSyncIntervalSeconds: number;
  /** This Proxy's task (topic mode): PROXY_TASK_ARN, else from the ECS task metadata endpoint. */
  taskArn?: string;
  metadataUri?: string;
}

export interface BusyCheckConfig {
  port: number;
  path: string;
  /** Text in the page that means "streaming": nginx-rtmp's stat page shows <publishing/>. */
  pattern: string;
}

export interface PeeringConfig {
  /** The Proxies' own ECS service and its cluster: the live Proxies are its RUNNING tasks. */
  cluster: string;
  service: string;
  /** This Proxy's task ARN; undefined: read from the ECS task metadata endpoint (ECS_CONTAINER_METADATA_URI_V4, set by ECS). */
  taskArn?: string;
  metadataUri?: string;
  /** Where peers forward streamers this Proxy has a free Server for (tcp, on BIND_ADDRESS). */
  peerPort: number;
  /** Where peers read which Servers this Proxy routes to, and whether it has a free one (http). */
  peerApiPort: number;
}

/** A bad setting: names the variable, its value and what is allowed. */
export class ConfigError extends Error {
  constructor(
    readonly variable: string,
    readonly value: string,
    readonly allowed: string,
  ) {
    super(`${variable}=${JSON.stringify(value)} is not valid: ${allowed}`);
    this.name = 'ConfigError';
  }
}

/** Several bad settings at once, so a user fixes them in one go. */
export class ConfigErrors extends Error {
  constructor(readonly errors: ConfigError[]) {
    super(errors.map((e) => e.message).join('\n'));
    this.name = 'ConfigErrors';
  }
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

type Env = Readonly<Record<string, string | undefined>>;

/** Parses and validates the environment; throws ConfigErrors listing every bad variable. */
export function loadConfig(env: Env = process.env): Config {
  const errors: ConfigError[] = [];
  const read = (name: string): string | undefined => {
    const raw = env[name];
    return raw === undefined || raw.trim() === '' ? undefined : raw.trim();
  };
  const oneOf = <T extends string>(name: string, allowed: readonly T[], fallback: T): T => {
    const value = read(name);
    if (value === undefined) return fallback;
    if ((allowed as readonly string[]).includes(value)) return value as T;
    errors.push(new ConfigError(name, value, `one of ${allowed.join(', ')}`));
    return fallback;
  };
  const port = (name: string, fallback: number): number => {
    const value = read(name);
    if (value === undefined) return fallback;
    const n = /^\d+$/.test(value) ? Number(value) : NaN;
    if (isValidPort(n)) return n;
    errors.push(new ConfigError(name, value, 'a TCP port, an integer from 1 to 65535'));
    return fallback;
  };
  const filePath = (name: string, fallback: string): string => {
    const value = read(name) ?? fallback;
    // Paths land in haproxy.cfg and on command lines: no whitespace, quotes or comment characters.
    if (/[\s"'#\\]/.test(value)) {
      errors.push(new ConfigError(name, value, 'a file path without whitespace, quotes, backslashes or #'));
    }
    return value;
  };

  const discovery = oneOf<DiscoveryKind>('DISCOVERY', ['ecs', 'static'], 'ecs');
  const ecsCluster = read('ECS_CLUSTER');
  if (discovery === 'ecs' && ecsCluster === undefined) {
    errors.push(new ConfigError('ECS_CLUSTER', env.ECS_CLUSTER ?? '', 'required when DISCOVERY=ecs: a cluster name or ARN'));
  }
  const ecsService = read('ECS_SERVICE');
  const serverPort = port('SERVER_PORT', 1935);
  const serverAddress = oneOf<AddressMode>('SERVER_ADDRESS', ['private', 'public'], 'private');

  const staticRaw = read('STATIC_SERVERS');
  let staticServers: StaticServerSpec[] = [];
  if (staticRaw !== undefined) {
    try {
      staticServers = parseStaticServers(staticRaw, serverPort);
    } catch (e) {
      errors.push(new ConfigError('STATIC_SERVERS', staticRaw, (e as Error).message));
    }
  } else if (discovery === 'static') {
    errors.push(new ConfigError('STATIC_SERVERS', '', 'required when DISCOVERY=static: host:port,host:port (IP literals; IPv6 as [addr]:port)'));
  }

  const syncSchedule = read('SYNC_SCHEDULE') ?? '*/10 * * * * *';
  if (!cron.validate(syncSchedule)) {
    errors.push(new ConfigError('SYNC_SCHEDULE', syncSchedule, 'a node-cron expression, e.g. "*/10 * * * * *" (seconds field allowed)'));
  }
  const applyMode = oneOf<ApplyMode>('APPLY_MODE', ['runtime', 'reload'], 'runtime');

  const bindAddress = read('BIND_ADDRESS') ?? '0.0.0.0';
  if (!isIpLiteral(bindAddress)) {
    errors.push(new ConfigError('BIND_ADDRESS', bindAddress, 'an IPv4 or IPv6 address, e.g. 0.0.0.0 or ::'));
  }
  const rtmpPort = port('RTMP_PORT', 1935);
  const healthPort = port('HEALTH_PORT', 8000);
  if (rtmpPort === healthPort) {
    errors.push(new ConfigError('HEALTH_PORT', String(healthPort), `a port different from RTMP_PORT (${rtmpPort})`));
  }

  const haproxyBin = filePath('HAPROXY_BIN', DEFAULT_HAPROXY_BIN);
  const haproxyConfig = filePath('HAPROXY_CONFIG', IMAGE_DEFAULTS.haproxyConfig);
  const haproxyPidfile = filePath('HAPROXY_PIDFILE', path.join(IMAGE_DEFAULTS.runDir, 'haproxy.pid'));
  const haproxySocket = filePath('HAPROXY_SOCKET', path.join(IMAGE_DEFAULTS.runDir, 'admin.sock'));
  const haproxyMasterSocket = filePath('HAPROXY_MASTER_SOCKET', `${haproxySocket}.master`);
  const haproxyTemplate = filePath('HAPROXY_TEMPLATE', path.join(PACKAGE_ROOT, 'templates', 'haproxy.cfg.ejs'));
  const healthPage = filePath('HEALTH_PAGE', path.join(PACKAGE_ROOT, 'templates', 'healthcheck.html'));
  const haproxyHealthMap = filePath('HAPROXY_HEALTH_MAP', path.join(path.dirname(haproxySocket), 'health.map'));

  const seconds = (name: string, fallback: number | undefined, allowed: string): number | undefined => {
    const value = read(name);
    if (value === undefined) return fallback;
    const n = /^\d+$/.test(value) ? Number(value) : NaN;
    if (n <= 86_400 * 7) return n;
    errors.push(new ConfigError(name, value, allowed));
    return fallback;
  };
  const shutdownGraceSeconds = seconds('SHUTDOWN_GRACE_SECONDS', 110, 'whole seconds from 0 to 604800')!;
  const dropRaw = read('MAX_DROP_PERCENT');
  let maxDropPercent = 50;
  if (dropRaw !== undefined) {
    maxDropPercent = /^\d+$/.test(dropRaw) ? Number(dropRaw) : NaN;
    if (!(maxDropPercent <= 100)) {
      errors.push(new ConfigError('MAX_DROP_PERCENT', dropRaw, 'a whole percentage from 0 to 100 (100 turns the guard off)'));
      maxDropPercent = 50;
    }
  }
  const healthRequireCapacity = oneOf('HEALTH_REQUIRE_CAPACITY', ['true', 'false'], 'true') === 'true';
  const serverSendProxy = oneOf('SERVER_SEND_PROXY', ['true', 'false'], 'false') === 'true';
  const metricsPort = read('METRICS_PORT') === 'off' ? undefined : port('METRICS_PORT', 9101);
  const haproxyMetricsPort = read('HAPROXY_METRICS_PORT') === undefined ? undefined : port('HAPROXY_METRICS_PORT', 0);
  const taken = [['RTMP_PORT', rtmpPort], ['HEALTH_PORT', healthPort], ['METRICS_PORT', metricsPort]] as const;
  for (const [name, value] of taken) {
    if (haproxyMetricsPort !== undefined && value === haproxyMetricsPort) {
      errors.push(new ConfigError('HAPROXY_METRICS_PORT', String(haproxyMetricsPort), `a port different from ${name}`));
    }
  }
  if (metricsPort !== undefined && (metricsPort === rtmpPort || metricsPort === healthPort)) {
    errors.push(new ConfigError('METRICS_PORT', String(metricsPort), 'a port different from RTMP_PORT and HEALTH_PORT, or "off"'));
  }
  const taskProtection = oneOf('TASK_PROTECTION', ['true', 'false'], 'false') === 'true';
  const serverRequireHealthy = oneOf('SERVER_REQUIRE_HEALTHY', ['true', 'false'], 'false') === 'true';
  if (serverRequireHealthy && discovery !== 'ecs') {
    errors.push(new ConfigError('SERVER_REQUIRE_HEALTHY', 'true', 'only with DISCOVERY=ecs: health is what ECS reports of a task'));
  }
  const protectionRaw = read('PROTECTION_MINUTES');
  let protectionMinutes = 60;
  if (protectionRaw !== undefined) {
    protectionMinutes = /^\d+$/.test(protectionRaw) ? Number(protectionRaw) : NaN;
    if (!(protectionMinutes >= 1 && protectionMinutes <= 2880)) {
      errors.push(new ConfigError('PROTECTION_MINUTES', protectionRaw, 'whole minutes from 1 to 2880 (the ECS limit)'));
      protectionMinutes = 60;
    }
  }
  if (taskProtection && discovery !== 'ecs') {
    errors.push(new ConfigError('TASK_PROTECTION', 'true', 'only with DISCOVERY=ecs: protection is set on ECS tasks'));
  }
  const drainRaw = read('SERVER_DRAIN_TIMEOUT');
  const serverDrainTimeoutSeconds =
    drainRaw === 'unlimited' ? undefined : seconds('SERVER_DRAIN_TIMEOUT', undefined, 'whole seconds from 0 to 604800, or "unlimited" (the default)');

  const busyPort = read('BUSY_CHECK_PORT') === undefined ? undefined : port('BUSY_CHECK_PORT', 0);
  const busyPath = read('BUSY_CHECK_PATH') ?? '/stat';
  if (!/^\/[\x21-\x7e]*$/.test(busyPath) || /["\\]/.test(busyPath)) {
    errors.push(new ConfigError('BUSY_CHECK_PATH', busyPath, 'a URL path starting with /, without spaces, quotes or backslashes'));
  }
  const busyPattern = read('BUSY_CHECK_PATTERN') ?? '<publishing/>';
  // It goes into HAProxy's health check, quoted: printable ASCII without quotes or backslashes.
  if (!/^[\x20-\x7e]+$/.test(busyPattern) || /["\\]/.test(busyPattern)) {
    errors.push(new ConfigError('BUSY_CHECK_PATTERN', busyPattern, 'printable ASCII text without " or \\'));
  }
  const busyCheck: BusyCheckConfig | undefined = busyPort === undefined ? undefined : { port: busyPort, path: busyPath, pattern: busyPattern };
  const logLevel = oneOf('LOG_LEVEL', LOG_LEVELS, 'info');

  const proxyService = read('PROXY_SERVICE');
  const proxyCluster = read('PROXY_CLUSTER') ?? ecsCluster;
  const peerPort = port('PEER_PORT', 1936);
  const peerApiPort = port('PEER_API_PORT', 8001);
  let peering: PeeringConfig | undefined;
  if (proxyService !== undefined) {
    const proxyTaskArn = read('PROXY_TASK_ARN');
    if (proxyCluster === undefined) errors.push(new ConfigError('PROXY_CLUSTER', '', 'required with PROXY_SERVICE when ECS_CLUSTER is not set: the Proxies\' cluster'));
    if (applyMode !== 'runtime') errors.push(new ConfigError('APPLY_MODE', applyMode, 'runtime when PROXY_SERVICE is set: ownership changes go through the Runtime API'));
    const used = [['RTMP_PORT', rtmpPort], ['HEALTH_PORT', healthPort], ['METRICS_PORT', metricsPort], ['HAPROXY_METRICS_PORT', haproxyMetricsPort]] as const;
    for (const [variable, value] of [['PEER_PORT', peerPort], ['PEER_API_PORT', peerApiPort]] as const) {
      const clash = [...used, ['PEER_PORT', peerPort] as const].find(([other, p]) => other !== variable && p === value);
      if (clash) errors.push(new ConfigError(variable, String(value), `a port different from ${clash[0]}`));
    }
    const metadataUri = read('ECS_CONTAINER_METADATA_URI_V4');
    peering = {
      cluster: proxyCluster ?? '',
      service: proxyService,
      ...(proxyTaskArn !== undefined && { taskArn: proxyTaskArn }),
      ...(metadataUri !== undefined && { metadataUri }),
      peerPort,
      peerApiPort,
    };
  }

  const topicArn = read('EVENTS_TOPIC_ARN');
  const queueUrl = read('EVENTS_QUEUE_URL');
  let events: EventsConfig | undefined;
  if (topicArn !== undefined || queueUrl !== undefined) {
    if (topicArn !== undefined && queueUrl !== undefined) {
      errors.push(new ConfigError('EVENTS_QUEUE_URL', queueUrl, 'unset when EVENTS_TOPIC_ARN is set: one source of events (the topic gives each Proxy a queue of its own)'));
    }
    if (discovery !== 'ecs') errors.push(new ConfigError(topicArn !== undefined ? 'EVENTS_TOPIC_ARN' : 'EVENTS_QUEUE_URL', topicArn ?? queueUrl ?? '', 'only with DISCOVERY=ecs: the events are ECS task state changes'));
    if (topicArn !== undefined && !/^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}$/.test(topicArn)) {
      errors.push(new ConfigError('EVENTS_TOPIC_ARN', topicArn, 'an SNS topic ARN, e.g. arn:aws:sns:eu-west-1:123456789012:rtmp-proxy-server-events'));
    }
    if (queueUrl !== undefined && !/^https?:\/\/[^\s/]+\/\d{12}\/[A-Za-z0-9_-]{1,80}$/.test(queueUrl)) {
      errors.push(new ConfigError('EVENTS_QUEUE_URL', queueUrl, 'an SQS queue URL, e.g. https://sqs.eu-west-1.amazonaws.com/123456789012/rtmp-proxy-events'));
    }
    const defaultPrefix = `${(proxyService ?? 'rtmp-proxy').slice(0, 40)}-events-`;
    const queuePrefix = read('EVENTS_QUEUE_PREFIX') ?? defaultPrefix;
    if (!/^[A-Za-z0-9_-]{1,48}$/.test(queuePrefix)) {
      errors.push(new ConfigError('EVENTS_QUEUE_PREFIX', queuePrefix, '1 to 48 letters, digits, "-" or "_" (SQS names are at most 80 characters, and a task id takes 32)'));
    }
    const intervalRaw = read('FULL_SYNC_INTERVAL');
    const fullSyncIntervalSeconds = intervalRaw === undefined ? 300 : /^\d+$/.test(intervalRaw) ? Number(intervalRaw) : NaN;
    if (!(fullSyncIntervalSeconds >= 10 && fullSyncIntervalSeconds <= 86_400)) {
      errors.push(new ConfigError('FULL_SYNC_INTERVAL', intervalRaw ?? '', 'whole seconds from 10 to 86400 (default 300): how often the full ECS listing runs while events arrive'));
    }
    const taskArn = read('PROXY_TASK_ARN');
    const metadataUri = read('ECS_CONTAINER_METADATA_URI_V4');
    if (topicArn !== undefined && taskArn === undefined && metadataUri === undefined) {
      errors.push(new ConfigError('EVENTS_TOPIC_ARN', topicArn, "set with this Proxy's task known: on ECS the task metadata endpoint tells it (ECS_CONTAINER_METADATA_URI_V4); elsewhere set PROXY_TASK_ARN"));
    }
    events = {
      ...(topicArn !== undefined && { topicArn }),
      ...(queueUrl !== undefined && topicArn === undefined && { queueUrl }),
      queuePrefix,
      fullSyncIntervalSeconds,
      ...(taskArn !== undefined && { taskArn }),
      ...(metadataUri !== undefined && { metadataUri }),
    };
  }

  /** A whole number in [min, max], or "off" (undefined). */
  const countOrOff = (name: string, fallback: number, min: number, max: number, allowed: string): number | undefined => {
    const raw = read(name);
    if (raw === 'off') return undefined;
    if (raw === undefined) return fallback;
    const n = /^\d+$/.test(raw) ? Number(raw) : NaN;
    if (n >= min && n <= max) return n;
    errors.push(new ConfigError(name, raw, allowed));
    return fallback;
  };
  const handshakeTimeoutSeconds = countOrOff('RTMP_HANDSHAKE_TIMEOUT', 5, 1, 60, 'whole seconds from 1 to 60 (default 5), or "off"');
  const sourceMaxStreams = countOrOff('SOURCE_MAX_STREAMS', 10, 1, 100_000, 'a whole number of connections from 1 to 100000 (default 10), or "off" (e.g. many encoders behind one NAT)');
  const sourceMaxConnectRate = countOrOff('SOURCE_MAX_CONNECT_RATE', 30, 1, 100_000, 'a whole number of new connections per 10 s from 1 to 100000 (default 30), or "off"');

  const rtmpsCertFile = read('RTMPS_CERT_FILE');
  const rtmpsCertPem = env.RTMPS_CERT !== undefined && env.RTMPS_CERT.trim() !== '' ? env.RTMPS_CERT : undefined;
  let rtmps: Config['rtmps'];
  if (rtmpsCertFile !== undefined || rtmpsCertPem !== undefined) {
    if (rtmpsCertFile !== undefined && rtmpsCertPem !== undefined) errors.push(new ConfigError('RTMPS_CERT', '(a PEM)', 'unset when RTMPS_CERT_FILE is set: one certificate'));
    if (rtmpsCertFile !== undefined && /\s/.test(rtmpsCertFile)) errors.push(new ConfigError('RTMPS_CERT_FILE', rtmpsCertFile, 'a file path without whitespace'));
    const rtmpsPort = port('RTMPS_PORT', 443);
    for (const [name, value] of [['RTMP_PORT', rtmpPort], ['HEALTH_PORT', healthPort], ['METRICS_PORT', metricsPort], ['HAPROXY_METRICS_PORT', haproxyMetricsPort], ['PEER_PORT', peering?.peerPort], ['PEER_API_PORT', peering?.peerApiPort]] as const) {
      if (value === rtmpsPort) errors.push(new ConfigError('RTMPS_PORT', String(rtmpsPort), `a port different from ${name}`));
    }
    rtmps = { port: rtmpsPort, ...(rtmpsCertFile !== undefined && { certFile: rtmpsCertFile }), ...(rtmpsCertPem !== undefined && rtmpsCertFile === undefined && { certPem: rtmpsCertPem }) };
  }

  let capacityMetrics: CapacityMetricsConfig | undefined;
  if (oneOf('CAPACITY_METRICS', ['on', 'off'], 'off') === 'on') {
    if (discovery !== 'ecs') errors.push(new ConfigError('CAPACITY_METRICS', 'on', 'only with DISCOVERY=ecs: the figures are of an ECS Server service, which the scaling stack scales'));
    const namespace = read('CAPACITY_METRICS_NAMESPACE') ?? 'RTMPProxy';
    if (!/^[A-Za-z0-9._/#:-]{1,255}$/.test(namespace) || namespace.startsWith('AWS/')) {
      errors.push(new ConfigError('CAPACITY_METRICS_NAMESPACE', namespace, 'a CloudWatch namespace: 1 to 255 letters, digits or . _ / # : -, not starting with AWS/'));
    }
    const periodRaw = read('CAPACITY_METRICS_PERIOD');
    const periodSeconds = periodRaw === undefined ? 60 : /^\d+$/.test(periodRaw) ? Number(periodRaw) : NaN;
    if (!(periodSeconds === 10 || periodSeconds === 30 || (periodSeconds >= 60 && periodSeconds <= 3600 && periodSeconds % 60 === 0))) {
      errors.push(new ConfigError('CAPACITY_METRICS_PERIOD', periodRaw ?? '', 'seconds: 10, 30, or a multiple of 60 up to 3600 (the periods CloudWatch aggregates on); default 60'));
    }
    const cluster = (ecsCluster ?? '').split('/').pop() ?? '';
    capacityMetrics = { namespace, periodSeconds, dimensions: { Cluster: cluster, ...(ecsService !== undefined && { Service: ecsService }) } };
  }

  if (errors.length > 0) throw new ConfigErrors(errors);
  return {
    discovery,
    ...(ecsCluster !== undefined && { ecsCluster }),
    ...(ecsService !== undefined && { ecsService }),
    serverPort,
    serverAddress,
    staticServers,
    syncSchedule,
    applyMode,
    bindAddress,
    rtmpPort,
    healthPort,
    haproxyBin,
    haproxyConfig,
    haproxyPidfile,
    haproxySocket,
    haproxyMasterSocket,
    haproxyTemplate,
    healthPage,
    haproxyHealthMap,
    shutdownGraceSeconds,
    maxDropPercent,
    healthRequireCapacity,
    serverSendProxy,
    ...(metricsPort !== undefined && { metricsPort }),
    ...(haproxyMetricsPort !== undefined && { haproxyMetricsPort }),
    taskProtection,
    serverRequireHealthy,
    protectionMinutes,
    ...(serverDrainTimeoutSeconds !== undefined && { serverDrainTimeoutSeconds }),
    ...(busyCheck !== undefined && { busyCheck }),
    ...(peering !== undefined && { peering }),
    ...(events !== undefined && { events }),
    ...(capacityMetrics !== undefined && { capacityMetrics }),
    ...(handshakeTimeoutSeconds !== undefined && { handshakeTimeoutSeconds }),
    ...(rtmps !== undefined && { rtmps }),
    ...(sourceMaxStreams !== undefined && { sourceMaxStreams }),
    ...(sourceMaxConnectRate !== undefined && { sourceMaxConnectRate }),
    logLevel,
  };
}
