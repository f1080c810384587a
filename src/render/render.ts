import ejs from 'ejs';
import { formatAddress, isIpLiteral, isSafeServerName, isValidPort, sortServers, type RenderedServer } from '../model.js';

/** Settings the template needs besides the fleet. */
export interface RenderSettings {
  bindAddress: string;
  rtmpPort: number;
  healthPort: number;
  pidfile: string;
  adminSocket: string;
  healthPage: string;
  /** Map file holding the health state (`health down` → 503). */
  healthMap: string;
  /** HAProxy's own Prometheus exporter, when set (HAPROXY_METRICS_PORT). */
  haproxyMetricsPort?: number;
  /** 503 while no Server is free (HEALTH_REQUIRE_CAPACITY). */
  requireCapacity: boolean;
  /** The options of every `server` line, in the config and in `add server`: see serverOptions(). */
  serverOptions: string;
  /** The busy check inside HAProxy (BUSY_CHECK_*): each Server's status page in its health check. */
  busyCheck?: { port: number; path: string; pattern: string };
  /** Several Proxies (PROXY_SERVICE): the peer listener and API ports, and the peer servers' options. */
  peering?: { peerPort: number; peerApiPort: number; peerServerOptions: string };
  /** RTMP_HANDSHAKE_TIMEOUT: a connection takes a Server only once its RTMP handshake (C0 + C1) arrived. */
  handshakeGate?: { timeoutMs: number };
  /** RTMPS_PORT with a checked certificate file: TLS terminated in HAProxy, plain RTMP to the Servers. */
  rtmps?: { port: number; certFile: string };
  /** SOURCE_MAX_STREAMS / SOURCE_MAX_CONNECT_RATE: limits per source address (undefined: that one off). */
  sourceLimits?: { maxConnections?: number; maxConnectsPer10s?: number };
}

/**
 * The options every Server gets, in the rendered config and in the Runtime API's `add server` alike,
 * so both describe the same backend. `send-proxy` makes health checks send the header too.
 */
export function serverOptions(opts: { sendProxy: boolean; busyCheck?: boolean }): string {
  // With the busy check in the health check, every second, one failure enough: a publishing Server leaves rotation within about one.
  return `check${opts.busyCheck ? ' inter 1s fall 1' : ''} maxconn 1 weight 10${opts.sendProxy ? ' send-proxy check-send-proxy' : ''}`;
}

/**
 * A peer Proxy in bk_peers: checked on its peer API's /free (200 while it has a free Server) four
 * times a second, so a streamer is forwarded only to a peer that can place it; the PROXY protocol
 * tells the peer the streamer's address and the hops it made so far (TLV 0xE0).
 */
export function peerServerOptions(peerApiPort: number): string {
  return `check port ${peerApiPort} inter 250ms fall 1 rise 1 weight 10 send-proxy-v2 set-proxy-v2-tlv-fmt(0xE0) %[var(sess.hops)]`;
}

/** Connection limits sized to the fleet, so the health frontend is never starved by streams. */
export interface Limits {
  rtmpMaxconn: number;
  healthMaxconn: number;
  globalMaxconn: number;
}

export const HEALTH_MAXCONN = 100;
/** Admin socket, master CLI and a margin. */
const ADMIN_MAXCONN = 20;
/**
 * Connections waiting out the handshake gate count against the frontend's maxconn: a floor this high
 * makes an attacker need hundreds of source addresses (SOURCE_MAX_STREAMS each) to fill it, where 256
 * took 26 (bench section 10). Idle connections cost HAProxy little; the image's nofile is 65,535.
 */
const MIN_RTMP_MAXCONN = 4096;

/**
 * Connection limits for a fleet of `serverCount`. The RTMP frontend's maxconn moves in powers of two
 * (at least twice the fleet, at least 4,096) rather than with every Server: a limit change needs a
 * reload, because raising `set maxconn frontend` while the frontend is full crashed HAProxy 2.6.12's
 * worker here. Streamers beyond the free Servers wait in the backend queue (`timeout queue`). The
 * global limit leaves room for the health frontend and the admin socket, so Route53 always gets an answer.
 */
export function limitsFor(serverCount: number): Limits {
  let rtmpMaxconn = MIN_RTMP_MAXCONN;
  while (rtmpMaxconn < 2 * serverCount) rtmpMaxconn *= 2;
  return { rtmpMaxconn, healthMaxconn: HEALTH_MAXCONN, globalMaxconn: rtmpMaxconn + HEALTH_MAXCONN + ADMIN_MAXCONN };
}

/** A template that does not render: names the file and, where EJS knows it, the line. */
export class TemplateError extends Error {
  constructor(
    readonly templatePath: string,
    cause: unknown,
  ) {
    super(`template ${templatePath} failed to render: ${(cause as Error)?.message ?? String(cause)}`, { cause });
    this.name = 'TemplateError';
  }
}

/** Compiled once per template text; rendering is then a pure function of the data. */
export type CompiledTemplate = (data: TemplateData) => string;

/** What a template sees (also as `locals`). */
interface TemplateData {
  templatePath: string;
  servers: readonly RenderedServer[];
  peers: readonly RenderedServer[];
  settings: RenderSettings & Limits;
  hostPort: typeof formatAddress;
}

/**
 * The template's names, declared as variables: EJS's default reaches them through a `with` block,
 * which in lite mode made a render twice as slow (1,000 Servers: 3.8 → 2.0 ms, same bytes).
 */
const TEMPLATE_LOCALS: ReadonlyArray<keyof TemplateData> = ['templatePath', 'servers', 'peers', 'settings', 'hostPort'];

export function compileTemplate(text: string, templatePath: string): CompiledTemplate {
  try {
    return ejs.compile(text, { filename: templatePath, async: false, strict: false, _with: false, destructuredLocals: [...TEMPLATE_LOCALS] }) as CompiledTemplate;
  } catch (e) {
    throw new TemplateError(templatePath, e);
  }
}

/**
 * Renders haproxy.cfg for a fleet. Pure: the same template, settings and fleet give the same bytes.
 * Addresses and names are checked again here: nothing unvalidated reaches a config file.
 */
export function renderConfig(
  template: CompiledTemplate,
  templatePath: string,
  settings: RenderSettings,
  servers: readonly RenderedServer[],
  peers: readonly RenderedServer[] = [],
): string {
  for (const s of [...servers, ...peers]) {
    if (!isSafeServerName(s.name)) throw new Error(`refusing to render server name ${JSON.stringify(s.name)}`);
    if (!isIpLiteral(s.address)) throw new Error(`refusing to render server address ${JSON.stringify(s.address)}`);
    if (!isValidPort(s.port)) throw new Error(`refusing to render server port ${JSON.stringify(s.port)}`);
  }
  const sorted = sortServers(servers) as RenderedServer[];
  const data: TemplateData = {
    templatePath,
    servers: sorted,
    peers: sortServers(peers) as RenderedServer[],
    settings: { ...settings, ...limitsFor(sorted.length) },
    hostPort: formatAddress,
  };
  try {
    return template(data);
  } catch (e) {
    throw new TemplateError(templatePath, e);
  }
}
