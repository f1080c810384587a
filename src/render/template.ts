import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { Config } from '../config.js';
import { sortServers, type RenderedServer } from '../model.js';
import { compileTemplate, peerServerOptions, renderConfig, serverOptions, type CompiledTemplate, type RenderSettings } from './render.js';

/** The template's settings, from the validated configuration. */
export function renderSettingsFrom(config: Config): RenderSettings {
  return {
    bindAddress: config.bindAddress,
    rtmpPort: config.rtmpPort,
    healthPort: config.healthPort,
    pidfile: config.haproxyPidfile,
    adminSocket: config.haproxySocket,
    healthPage: config.healthPage,
    healthMap: config.haproxyHealthMap,
    requireCapacity: config.healthRequireCapacity,
    ...(config.haproxyMetricsPort !== undefined && { haproxyMetricsPort: config.haproxyMetricsPort }),
    serverOptions: serverOptions({ sendProxy: config.serverSendProxy, busyCheck: config.busyCheck !== undefined }),
    ...(config.busyCheck && { busyCheck: config.busyCheck }),
    ...(config.peering && {
      peering: { peerPort: config.peering.peerPort, peerApiPort: config.peering.peerApiPort, peerServerOptions: peerServerOptions(config.peering.peerApiPort) },
    }),
    ...(config.handshakeTimeoutSeconds !== undefined && { handshakeGate: { timeoutMs: config.handshakeTimeoutSeconds * 1000 } }),
    // Only a certificate checked at start (src/haproxy/tls-certificate.ts) turns the RTMPS frontend on.
    ...(config.rtmps?.certFile !== undefined && { rtmps: { port: config.rtmps.port, certFile: config.rtmps.certFile } }),
    ...((config.sourceMaxStreams !== undefined || config.sourceMaxConnectRate !== undefined) && {
      sourceLimits: {
        ...(config.sourceMaxStreams !== undefined && { maxConnections: config.sourceMaxStreams }),
        ...(config.sourceMaxConnectRate !== undefined && { maxConnectsPer10s: config.sourceMaxConnectRate }),
      },
    }),
  };
}

/** How many rendered configs are remembered: what runs now and what a sync brings it to. */
const REMEMBERED = 2;

/**
 * The template file, compiled, and the configs it rendered lately. A sync renders "what runs" to see
 * whether anything but the servers changed, and "what it brings HAProxy to" for the file: the second
 * is the next sync's first, so each fleet is rendered once. The template is read again at every
 * `load()` and recompiled (forgetting what it rendered) only when its text changed.
 */
export class ConfigRenderer {
  private compiled: { text: string; template: CompiledTemplate } | undefined;
  /** `key`: a digest of the servers and peers, not their text, which at 5,000 Servers is ~300 KB per render. */
  private remembered: Array<{ key: string; text: string }> = [];
  /** Renders done, not remembered ones: what the bench counts. */
  renders = 0;

  constructor(
    readonly templatePath: string,
    private readonly settings: RenderSettings,
  ) {}

  /** The options of every `server` line, for the Runtime API's `add server` too. */
  get serverOptions(): string {
    return this.settings.serverOptions;
  }

  /** Reads the template; a changed text is compiled (a syntax error throws a TemplateError). */
  async load(): Promise<void> {
    const text = await readFile(this.templatePath, 'utf8');
    if (this.compiled?.text === text) return;
    this.compiled = { text, template: compileTemplate(text, this.templatePath) };
    this.remembered = [];
  }

  /** The options of every peer server line (bk_peers), when several Proxies run. */
  get peerServerOptions(): string {
    return this.settings.peering?.peerServerOptions ?? '';
  }

  /** haproxy.cfg for these servers and peers (any order). Throws a TemplateError or a refusal of bad data. */
  render(servers: readonly RenderedServer[], peers: readonly RenderedServer[] = []): string {
    if (this.compiled === undefined) throw new Error('ConfigRenderer.render() before load()');
    const sorted = sortServers(servers) as RenderedServer[];
    const key = fleetDigest(sorted, sortServers(peers) as RenderedServer[]);
    const hit = this.remembered.find((r) => r.key === key);
    if (hit) return hit.text;
    const text = renderConfig(this.compiled.template, this.templatePath, this.settings, sorted, peers);
    this.renders++;
    this.remembered = [{ key, text }, ...this.remembered].slice(0, REMEMBERED);
    return text;
  }
}

/** Lines hashed per batch: each batch's text stays small and short-lived (no large-object strings). */
const DIGEST_BATCH = 500;

/** A digest of what a render depends on besides the settings: each server's name, address, port, drain. */
function fleetDigest(servers: readonly RenderedServer[], peers: readonly RenderedServer[]): string {
  const hash = createHash('sha256');
  const line = (s: RenderedServer) => `${s.name} ${s.address} ${s.port} ${s.draining ? 1 : 0}\n`;
  const add = (list: readonly RenderedServer[]) => {
    for (let i = 0; i < list.length; i += DIGEST_BATCH) hash.update(list.slice(i, i + DIGEST_BATCH).map(line).join(''));
  };
  add(servers);
  hash.update('peers\n');
  add(peers);
  return hash.digest('base64');
}
