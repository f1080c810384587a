import { readFile } from 'node:fs/promises';
import type { Config } from './config.js';
import type { Discovery } from './discovery/types.js';
import { ConfigValidationError, type HaproxyProcess } from './haproxy/process.js';
import { readConfigFile, writeConfigAtomically } from './haproxy/config-file.js';
import type { Logger } from './log.js';
import { compileTemplate, renderConfig, type CompiledTemplate, type RenderSettings, type RenderedServer } from './render.js';
import type { Server } from './server.js';

export type SyncAction = 'none' | 'started' | 'reloaded';
export type SyncStage = 'discovery' | 'render' | 'validate' | 'apply';

export type SyncOutcome =
  | { ok: true; servers: number; added: string[]; removed: string[]; action: SyncAction; durationMs: number }
  | { ok: false; stage: SyncStage; error: Error; code?: string; durationMs: number };

/** Names in `next` but not in `prev`, and the reverse. Pure. */
export function diffNames(prev: readonly Server[], next: readonly Server[]): { added: string[]; removed: string[] } {
  const before = new Set(prev.map((s) => s.name));
  const after = new Set(next.map((s) => s.name));
  return {
    added: [...after].filter((n) => !before.has(n)).sort(),
    removed: [...before].filter((n) => !after.has(n)).sort(),
  };
}

export function renderSettingsFrom(config: Config): RenderSettings {
  return {
    bindAddress: config.bindAddress,
    rtmpPort: config.rtmpPort,
    healthPort: config.healthPort,
    pidfile: config.haproxyPidfile,
    adminSocket: config.haproxySocket,
    healthPage: config.healthPage,
  };
}

/** Reads and compiles the template, recompiling only when its text changed. */
export class TemplateSource {
  private cached: { text: string; compiled: CompiledTemplate } | undefined;
  constructor(readonly path: string) {}

  async load(): Promise<CompiledTemplate> {
    const text = await readFile(this.path, 'utf8');
    if (this.cached?.text !== text) this.cached = { text, compiled: compileTemplate(text, this.path) };
    return this.cached.compiled;
  }
}

export interface SyncerDeps {
  config: Config;
  discovery: Discovery;
  haproxy: HaproxyProcess;
  logger: Logger;
}

/**
 * One sync: discover → render → apply. A failure at any stage keeps what runs; only a complete,
 * successful discovery changes the backend. Never runs two syncs at once.
 */
export class Syncer {
  private readonly template: TemplateSource;
  /** The fleet HAProxy was last brought to: the last known-good set. */
  private applied: Server[] = [];
  private inFlight: Promise<SyncOutcome> | undefined;

  constructor(private readonly deps: SyncerDeps) {
    this.template = new TemplateSource(deps.config.haproxyTemplate);
  }

  get lastKnownGood(): readonly Server[] {
    return this.applied;
  }

  /** Runs a sync, or joins the one already running. */
  sync(): Promise<SyncOutcome> {
    this.inFlight ??= this.runSync().finally(() => (this.inFlight = undefined));
    return this.inFlight;
  }

  /** Resolves once no sync is running. */
  async whenIdle(): Promise<void> {
    await this.inFlight?.catch(() => undefined);
  }

  /** Renders the config the current fleet gives, changing nothing. */
  async render(): Promise<string> {
    const { servers } = await this.deps.discovery.discover();
    return renderConfig(await this.template.load(), this.template.path, renderSettingsFrom(this.deps.config), active(servers));
  }

  private async runSync(): Promise<SyncOutcome> {
    const started = performance.now();
    const { logger } = this.deps;
    const elapsed = () => Math.round(performance.now() - started);
    const fail = (stage: SyncStage, error: unknown): SyncOutcome => {
      const err = error instanceof Error ? error : new Error(String(error));
      const code = (err as { code?: unknown }).code;
      const outcome: SyncOutcome = { ok: false, stage, error: err, durationMs: elapsed(), ...(typeof code === 'string' && { code }) };
      logger.error({ stage, code, err: err.message, servers: this.applied.length, durationMs: outcome.durationMs }, `sync failed at ${stage}; keeping the running config`);
      return outcome;
    };

    let servers: Server[];
    try {
      ({ servers } = await this.deps.discovery.discover());
    } catch (e) {
      return fail('discovery', e);
    }

    let text: string;
    try {
      text = renderConfig(await this.template.load(), this.template.path, renderSettingsFrom(this.deps.config), active(servers));
    } catch (e) {
      return fail('render', e);
    }

    let action: SyncAction;
    try {
      action = await this.apply(text);
    } catch (e) {
      return fail(e instanceof ConfigValidationError ? 'validate' : 'apply', e);
    }

    const { added, removed } = diffNames(this.applied, servers);
    this.applied = servers;
    const outcome: SyncOutcome = { ok: true, servers: servers.length, added, removed, action, durationMs: elapsed() };
    logger.info({ servers: servers.length, added, removed, action, durationMs: outcome.durationMs }, 'sync');
    return outcome;
  }

  /** Brings HAProxy to `text`: nothing when it already runs it, else validate, write, start or reload. */
  private async apply(text: string): Promise<SyncAction> {
    const { config, haproxy } = this.deps;
    const current = await readConfigFile(config.haproxyConfig);
    const running = (await haproxy.runningPid()) !== undefined;
    if (running && current === text) return 'none';

    await writeConfigAtomically(config.haproxyConfig, text, (temp) => haproxy.validate(temp));
    try {
      if (!running) {
        await haproxy.start();
        return 'started';
      }
      await haproxy.reload();
      return 'reloaded';
    } catch (e) {
      // Keep the file on disk equal to what runs: put the previous config back.
      if (current !== undefined && running) await writeConfigAtomically(config.haproxyConfig, current, async () => {});
      throw e;
    }
  }
}

function active(servers: readonly Server[]): RenderedServer[] {
  return servers.map((s) => ({ ...s, draining: false }));
}
