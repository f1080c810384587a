import { createHash } from 'node:crypto';
import http from 'node:http';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { readConfigFile } from './haproxy/config-file.js';
import type { Logger } from './log.js';
import { formatAddress, isFree, type BackendServer, type RuntimeServer, type SyncOutcome } from './model.js';

const PREFIX = 'rtmp_proxy_';

/**
 * The daemon's Prometheus metrics. Sync counters come from each sync's outcome; busy and free Servers
 * are read from HAProxy at scrape time, so they are never a sync interval old.
 */
export class Metrics {
  readonly registry = new Registry();
  private readonly discovered: Gauge;
  private readonly syncs: Counter;
  private readonly discoveryErrors: Counter;
  private readonly haproxyActions: Counter;
  private readonly runtimeChanges: Counter;
  private readonly lastSuccess: Gauge;
  private readonly consecutiveFailures: Gauge;
  private readonly duration: Histogram;
  private readonly configInfo: Gauge;
  private readonly held: Gauge;
  private readonly eventsUp?: Gauge;
  private readonly taskEvents?: Counter;

  constructor(
    private readonly opts: {
      backend: () => Promise<BackendServer[]>;
      peers?: () => Promise<RuntimeServer[]>;
      /** What the RTMP frontend refused (handshake gate, per-source limits), from HAProxy at scrape time. */
      refusals?: () => Promise<{ perSource: number; handshake: number }>;
      configPath: string;
      logger: Logger;
      events?: boolean;
    },
  ) {
    const registers = [this.registry];
    this.discovered = new Gauge({ name: `${PREFIX}servers_discovered`, help: 'Servers in the fleet at the last successful sync', registers });
    /** A gauge read from HAProxy at scrape time; when it does not answer, the last value stays. */
    const liveGauge = <T>(name: string, help: string, read: () => Promise<T>, count: (value: T) => number) =>
      new Gauge({
        name: `${PREFIX}${name}`,
        help,
        registers,
        collect: async function (this: Gauge) {
          try {
            this.set(count(await read()));
          } catch (e) {
            opts.logger.debug({ err: (e as Error).message }, `metric ${name}: HAProxy did not answer`);
          }
        },
      });
    const backend = opts.backend;
    liveGauge('servers_busy', 'Servers carrying a stream through this Proxy (HAProxy stats, old workers included)', backend, (s) => s.filter((x) => x.streams > 0).length);
    liveGauge('servers_free', 'Servers that can take a stream now: in rotation, routable (up or unchecked), idle', backend, (s) => s.filter(isFree).length);
    liveGauge('servers_in_maintenance', 'Servers draining or held out of rotation', backend, (s) => s.filter((x) => x.maintenance).length);
    liveGauge('streams', 'Streams flowing through this Proxy', backend, (s) => s.reduce((n, x) => n + x.streams, 0));
    if (opts.refusals) {
      const refusals = opts.refusals;
      liveGauge('connections_refused_handshake', 'Connections closed by the RTMP handshake gate since the HAProxy worker started (nothing, too little or not RTMP in RTMP_HANDSHAKE_TIMEOUT)', refusals, (r) => r.handshake);
      liveGauge('connections_refused_per_source', 'Connections refused by the per-source limits since the HAProxy worker started (SOURCE_MAX_STREAMS, SOURCE_MAX_CONNECT_RATE)', refusals, (r) => r.perSource);
    }
    if (opts.peers) {
      const peers = opts.peers;
      liveGauge('peers', 'Peer Proxies this one forwards to when it has no free Server', peers, (p) => p.length);
      liveGauge('peers_with_free_server', 'Peer Proxies whose /free says they have a free Server now', peers, (p) => p.filter((x) => !x.maintenance && x.status.startsWith('UP')).length);
      liveGauge('streams_forwarded', 'Streams this Proxy forwarded to peers, flowing now', peers, (p) => p.reduce((n, x) => n + x.sessions, 0));
    }
    this.held = new Gauge({ name: `${PREFIX}servers_held`, help: 'Servers in the fleet held out of rotation here at the last sync, by reason (owned-by-peer, handoff, busy-elsewhere, …)', labelNames: ['reason'], registers });
    this.syncs = new Counter({ name: `${PREFIX}syncs_total`, help: 'Syncs by result: ok, or the stage that failed (backoff: skipped while backing off)', labelNames: ['result'], registers });
    this.discoveryErrors = new Counter({ name: `${PREFIX}discovery_errors_total`, help: 'Failed discoveries by AWS error code', labelNames: ['code'], registers });
    this.haproxyActions = new Counter({ name: `${PREFIX}haproxy_actions_total`, help: 'HAProxy starts and reloads', labelNames: ['action'], registers });
    this.runtimeChanges = new Counter({ name: `${PREFIX}runtime_changes_total`, help: 'Server changes through the Runtime API, by kind', labelNames: ['change'], registers });
    this.lastSuccess = new Gauge({ name: `${PREFIX}last_successful_sync_timestamp_seconds`, help: 'When the last sync succeeded (Unix time)', registers });
    this.consecutiveFailures = new Gauge({ name: `${PREFIX}consecutive_failures`, help: 'Failed syncs in a row', registers });
    this.duration = new Histogram({
      name: `${PREFIX}sync_duration_seconds`,
      help: 'How long a sync took',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
    if (opts.events) {
      this.eventsUp = new Gauge({ name: `${PREFIX}events_up`, help: 'ECS task events: 1 while the queue answers (changes apply as they arrive), 0 while every sync lists the tasks', registers });
      this.eventsUp.set(0);
      this.taskEvents = new Counter({ name: `${PREFIX}task_events_total`, help: 'ECS task state change events, by what they did: added, updated, removed, unchanged, duplicate, stale, foreign, invalid', labelNames: ['effect'], registers });
    }
    this.configInfo = new Gauge({ name: `${PREFIX}config_info`, help: 'The running haproxy.cfg, by SHA-256 (first 16 hex digits)', labelNames: ['sha256'], registers });
    collectDefaultMetrics({ register: this.registry, prefix: PREFIX });
  }

  async observeSync(outcome: SyncOutcome): Promise<void> {
    if (!outcome.ok) {
      this.syncs.inc({ result: outcome.stage });
      if (outcome.stage === 'discovery') this.discoveryErrors.inc({ code: outcome.code ?? 'unknown' });
      this.consecutiveFailures.set(outcome.consecutiveFailures);
      if (outcome.stage !== 'backoff') this.duration.observe(outcome.durationMs / 1000);
      return;
    }
    // The file first: a scrape that sees this sync counted sees its config hash too.
    const text = await readConfigFile(this.opts.configPath).catch(() => undefined);
    if (text !== undefined) {
      this.configInfo.reset();
      this.configInfo.set({ sha256: createHash('sha256').update(text).digest('hex').slice(0, 16) }, 1);
    }
    this.syncs.inc({ result: 'ok' });
    this.consecutiveFailures.set(0);
    this.discovered.set(outcome.servers);
    this.held.reset();
    for (const { reason } of outcome.held ?? []) this.held.inc({ reason });
    this.lastSuccess.set(Date.now() / 1000);
    this.duration.observe(outcome.durationMs / 1000);
    if (outcome.action === 'started' || outcome.action === 'reloaded') this.haproxyActions.inc({ action: outcome.action });
    for (const [change, names] of Object.entries(outcome.changes ?? {}) as Array<[string, string[]]>) if (names.length > 0) this.runtimeChanges.inc({ change }, names.length);
  }

  observeTaskEvent(effect: string): void {
    this.taskEvents?.inc({ effect });
  }

  setEventsUp(up: boolean): void {
    this.eventsUp?.set(up ? 1 : 0);
  }

  /** Serves GET /metrics on address:port; resolves once listening. */
  async serve(address: string, port: number): Promise<{ url: string; close(): Promise<void> }> {
    const server = http.createServer((req, res) => {
      if (req.method !== 'GET' || req.url?.split('?')[0] !== '/metrics') {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
        return;
      }
      this.registry.metrics().then(
        (body) => res.writeHead(200, { 'content-type': this.registry.contentType }).end(body),
        (e) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`${(e as Error).message}\n`),
      );
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, address, () => resolve());
    });
    return {
      url: `http://${formatAddress(address, port)}/metrics`,
      close: () => new Promise<void>((resolve) => server.close(() => resolve())),
    };
  }
}
