// `rtmp-proxy check`: is this Proxy ready to run? The environment, HAProxy, the paths it writes,
// the health page, the template, and the config the template renders, checked by `haproxy -c` in a
// temp dir. Changes nothing: no AWS call, the live HAPROXY_CONFIG and the running HAProxy untouched.
import { execFile } from 'node:child_process';
import { constants } from 'node:fs';
import { access, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import vm from 'node:vm';
import ejs from 'ejs';
import { ConfigError, ConfigErrors, loadConfig, type Config } from './config.js';
import { checkCertificateSource } from './haproxy/tls-certificate.js';
import { ensureHealthMap } from './haproxy/health-state.js';
import { ConfigValidationError, HaproxyProcess } from './haproxy/process.js';
import { maxconnUnderBursts, parseVersion, parseVersionOutput, supportsRuntimeServers } from './haproxy/version.js';
import { chooseLogFormat, silentLogger, type LogFormat } from './log.js';
import { serverNameForAddress, type RenderedServer } from './model.js';
import { compileTemplate, renderConfig, TemplateError } from './render/render.js';
import { renderSettingsFrom } from './render/template.js';

export interface CheckResult {
  name: string;
  ok: boolean;
  /** What was checked, or what is wrong (naming the variable, file and line). */
  message: string;
  /** A check that could not run because an earlier one failed. */
  skipped?: boolean;
  /** Passed, with something the operator must know (e.g. an HAProxy that breaks maxconn under bursts). */
  warning?: boolean;
}

export interface CheckReport {
  results: CheckResult[];
  /** 0 all passed, 2 the environment is invalid, 1 anything else failed. */
  exitCode: number;
}

type Env = Readonly<Record<string, string | undefined>>;

/** `ok    name: message` / `WARN  …` / `FAIL  name: message`, continuation lines indented. Pure. */
export function formatCheckReport(report: CheckReport): string {
  return report.results
    .map((r) => {
      const mark = r.skipped ? 'skip' : !r.ok ? 'FAIL' : r.warning ? 'WARN' : 'ok';
      const [first, ...rest] = `${r.name}: ${r.message}`.split('\n');
      return [`${mark.padEnd(5)} ${first}`, ...rest.map((l) => `      ${l}`)].join('\n');
    })
    .join('\n')
    .concat('\n');
}

/** Every setting, or every bad one: loadConfig() plus LOG_FORMAT (read by the logger, not config.ts). */
export function checkEnvironment(env: Env, opts: { isTTY?: boolean } = {}): { config?: Config; logFormat?: LogFormat; errors: ConfigError[] } {
  const errors: ConfigError[] = [];
  let config: Config | undefined;
  try {
    config = loadConfig(env);
  } catch (e) {
    if (!(e instanceof ConfigErrors)) throw e;
    errors.push(...e.errors);
  }
  let logFormat: LogFormat | undefined;
  try {
    logFormat = chooseLogFormat({ isTTY: opts.isTTY ?? false, env });
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    errors.push(e);
  }
  return errors.length === 0 ? { config: config!, logFormat: logFormat!, errors } : { errors };
}

/**
 * Where an EJS syntax error is: EJS itself only says "Unexpected token in FILE". The generated
 * function is compiled again with node:vm, whose SyntaxError names the generated line; EJS marks
 * every template line in that code (`__line = N`), which maps it back to the template's line.
 */
export function locateTemplateSyntaxError(text: string, file: string): number | undefined {
  let source: string;
  try {
    // generateSource() is EJS's own step before it builds the function (not in @types/ejs).
    const template = new ejs.Template(text, { filename: file, compileDebug: true }) as ejs.Template & { generateSource(): void };
    template.generateSource();
    source = template.source;
  } catch {
    return undefined;
  }
  try {
    new vm.Script(`(function () {${source}\n})`, { filename: 'ejs-generated' });
    return undefined;
  } catch (e) {
    const m = /ejs-generated:(\d+)/.exec((e as Error).stack ?? '');
    if (!m) return undefined;
    const generated = source.split('\n').slice(0, Number(m[1]));
    for (let i = generated.length - 1; i >= 0; i--) {
      const marker = /__line = (\d+)/.exec(generated[i]!);
      if (marker) return Number(marker[1]);
    }
    return 1;
  }
}

/** A template that does not compile or render → "FILE line N: what", with EJS's context lines when it gives them. */
export function describeTemplateError(e: unknown, file: string, text: string): string {
  const inner = e instanceof TemplateError ? (e.cause as Error | undefined) : (e as Error);
  const message = inner?.message ?? String(e);
  // Runtime errors: "FILE:LINE\n    context…\n\nmessage".
  const runtime = /^(.*):(\d+)\n([\s\S]*?)\n\n([\s\S]*)$/.exec(message);
  if (runtime) {
    const marked = runtime[3]!.split('\n').find((l) => l.startsWith(' >> '));
    return `HAPROXY_TEMPLATE=${file} line ${runtime[2]}: ${runtime[4]!.trim()}${marked === undefined ? '' : `\n${marked}`}`;
  }
  // Compile (syntax) errors: "Unexpected token '{' in FILE while compiling ejs\n\nIf the above…".
  const first = message.split('\n')[0]!.replace(` in ${file} while compiling ejs`, '');
  const line = locateTemplateSyntaxError(text, file);
  if (line === undefined) return `HAPROXY_TEMPLATE=${file}: ${first}`;
  const lineText = text.split('\n')[line - 1] ?? '';
  return `HAPROXY_TEMPLATE=${file} line ${line}: ${first}\n >> ${line}| ${lineText}`;
}

/**
 * HAProxy's ALERT lines about the temp file → about the rendered config, with each line it names
 * quoted, and the template's line when that text stands verbatim on exactly one template line.
 */
export function describeValidationError(e: ConfigValidationError, tempFile: string, rendered: string, templateFile: string, templateText: string): string {
  const alerts = e.details.split('; ');
  // HAProxy's closing summary lines say nothing the specific ones don't.
  const specific = alerts.filter((a) => !/Error\(s\) found in configuration file|Fatal errors found in configuration/.test(a));
  const details = (specific.length > 0 ? specific : alerts).join('; ').split(tempFile).join('rendered haproxy.cfg');
  const renderedLines = rendered.split('\n');
  const templateLines = templateText.split('\n').map((l) => l.trim());
  const quoted = [...new Set([...e.details.matchAll(new RegExp(`${escapeRegExp(tempFile)}:(\\d+)`, 'g'))].map((m) => Number(m[1])))]
    .slice(0, 5)
    .map((n) => {
      const text = (renderedLines[n - 1] ?? '').trim();
      const at = templateLines.flatMap((l, i) => (text !== '' && l === text ? [i + 1] : []));
      return ` >> ${n}| ${text}${at.length === 1 ? `   (HAPROXY_TEMPLATE=${templateFile} line ${at[0]})` : ''}`;
    });
  return [`haproxy -c rejects the config rendered from HAPROXY_TEMPLATE=${templateFile}: ${details}`, ...quoted].join('\n');
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function haproxyVersion(bin: string): Promise<CheckResult> {
  const fail = (message: string): CheckResult => ({ name: 'haproxy', ok: false, message });
  return new Promise((resolve) => {
    execFile(bin, ['-v'], { timeout: 10_000 }, (error, stdout, stderr) => {
      if (error) {
        const code = (error as NodeJS.ErrnoException).code;
        resolve(
          fail(
            code === 'ENOENT'
              ? `HAPROXY_BIN=${bin} was not found: install haproxy (Debian: apt-get install haproxy) or point HAPROXY_BIN at it`
              : `HAPROXY_BIN=${bin} -v failed: ${(stderr || error.message).trim()}`,
          ),
        );
        return;
      }
      const text = parseVersionOutput(stdout);
      const version = text === undefined ? undefined : parseVersion(text);
      if (version === undefined) return resolve(fail(`HAPROXY_BIN=${bin} does not look like HAProxy: ${stdout.split('\n')[0]}`));
      if (!supportsRuntimeServers(version)) return resolve(fail(`HAPROXY_BIN=${bin} is HAProxy ${version.text}: 2.6 or newer is needed (add server / del server at run time)`));
      const verdict = maxconnUnderBursts(version);
      resolve(
        verdict.holds
          ? { name: 'haproxy', ok: true, message: `HAProxy ${version.text} (HAPROXY_BIN=${bin})` }
          : { name: 'haproxy', ok: true, warning: true, message: `HAPROXY_BIN=${bin}: ${verdict.reason}` },
      );
    });
  });
}

/** The directory holding `file` exists and is writable, or its nearest existing ancestor is (it can be created). */
async function writableParent(file: string): Promise<string | undefined> {
  let dir = path.dirname(path.resolve(file));
  for (;;) {
    const st = await stat(dir).catch(() => undefined);
    if (st !== undefined) {
      if (!st.isDirectory()) return `${dir} is not a directory`;
      try {
        await access(dir, constants.W_OK | constants.X_OK);
        return undefined;
      } catch {
        return dir === path.dirname(path.resolve(file)) ? `the directory ${dir} is not writable` : `the directory ${path.dirname(path.resolve(file))} does not exist and ${dir} is not writable`;
      }
    }
    const up = path.dirname(dir);
    if (up === dir) return `no existing directory above ${file}`;
    dir = up;
  }
}

/** Runs every check; stops early only when the environment itself is invalid. */
export async function runChecks(env: Env): Promise<CheckReport> {
  const results: CheckResult[] = [];
  const { config, errors } = checkEnvironment(env);
  if (config === undefined) {
    for (const e of errors) results.push({ name: 'environment', ok: false, message: e.message });
    return { results, exitCode: 2 };
  }
  const discovery =
    config.discovery === 'static'
      ? `DISCOVERY=static, ${config.staticServers.length} STATIC_SERVERS`
      : `DISCOVERY=ecs, ECS_CLUSTER=${config.ecsCluster}${config.ecsService ? `, ECS_SERVICE=${config.ecsService}` : ''}`;
  results.push({ name: 'environment', ok: true, message: `${discovery}, APPLY_MODE=${config.applyMode}, RTMP_PORT=${config.rtmpPort}, HEALTH_PORT=${config.healthPort}` });

  const version = await haproxyVersion(config.haproxyBin);
  results.push(version);

  const pathProblems: string[] = [];
  for (const [variable, file] of [
    ['HAPROXY_CONFIG', config.haproxyConfig],
    ['HAPROXY_PIDFILE', config.haproxyPidfile],
    ['HAPROXY_SOCKET', config.haproxySocket],
    ['HAPROXY_MASTER_SOCKET', config.haproxyMasterSocket],
    ['HAPROXY_HEALTH_MAP', config.haproxyHealthMap],
  ] as const) {
    const problem = await writableParent(file);
    if (problem !== undefined) pathProblems.push(`${variable}=${file}: ${problem}`);
  }
  results.push(
    pathProblems.length === 0
      ? { name: 'paths', ok: true, message: 'the directories of HAPROXY_CONFIG, HAPROXY_PIDFILE, HAPROXY_SOCKET, HAPROXY_MASTER_SOCKET, HAPROXY_HEALTH_MAP are writable' }
      : { name: 'paths', ok: false, message: pathProblems.join('\n') },
  );

  const page = await readFile(config.healthPage).then(
    (b) => ({ ok: true as const, bytes: b.length }),
    (e: NodeJS.ErrnoException) => ({ ok: false as const, why: e.code === 'ENOENT' ? 'no such file' : e.message }),
  );
  results.push(page.ok ? { name: 'health page', ok: true, message: `HEALTH_PAGE=${config.healthPage} (${page.bytes} bytes)` } : { name: 'health page', ok: false, message: `HEALTH_PAGE=${config.healthPage}: ${page.why}` });

  // RTMPS: the certificate as `run` checks it (nothing written); `run` would go on with plain RTMP alone.
  if (config.rtmps) {
    const { certFile, certPem, port } = config.rtmps;
    const checked = checkCertificateSource({ ...(certFile !== undefined && { file: certFile }), ...(certPem !== undefined && { pem: certPem }) });
    results.push(
      'problem' in checked
        ? { name: 'rtmps', ok: false, message: `${checked.problem} (run would serve plain RTMP only)` }
        : { name: 'rtmps', ok: true, message: `RTMPS_PORT=${port}, ${certFile !== undefined ? `RTMPS_CERT_FILE=${certFile}` : 'RTMPS_CERT'}: the certificate and its key match, valid now` },
    );
  }

  // The template, rendered for a placeholder fleet of one Server: discovery (AWS) is not called.
  const placeholder: RenderedServer = { name: serverNameForAddress('127.0.0.1', config.serverPort), address: '127.0.0.1', port: config.serverPort, draining: false };
  let rendered: string | undefined;
  let settingsDir: string | undefined;
  const templateFile = config.haproxyTemplate;
  const text = await readFile(templateFile, 'utf8').catch((e: NodeJS.ErrnoException) => {
    results.push({ name: 'template', ok: false, message: `HAPROXY_TEMPLATE=${templateFile}: ${e.code === 'ENOENT' ? 'no such file' : e.message}` });
    return undefined;
  });
  try {
    if (text !== undefined) {
      settingsDir = await mkdtemp(path.join(tmpdir(), 'rtmp-proxy-check-'));
      // Temp paths for what the config names and HAProxy would open: the health map must exist.
      const settings = {
        ...renderSettingsFrom(config),
        pidfile: path.join(settingsDir, 'haproxy.pid'),
        adminSocket: path.join(settingsDir, 'admin.sock'),
        healthMap: path.join(settingsDir, 'health.map'),
      };
      try {
        rendered = renderConfig(compileTemplate(text, templateFile), templateFile, settings, [placeholder]);
        results.push({ name: 'template', ok: true, message: `HAPROXY_TEMPLATE=${templateFile} renders (placeholder fleet: one Server at 127.0.0.1:${config.serverPort})` });
      } catch (e) {
        results.push({ name: 'template', ok: false, message: describeTemplateError(e, templateFile, text) });
      }
      if (rendered !== undefined && !/^\s*backend\s+bk_rtmp\s*$/m.test(rendered)) {
        results.push({ name: 'template', ok: false, message: `HAPROXY_TEMPLATE=${templateFile} has no "backend bk_rtmp": the daemon changes servers in that backend, keep its name` });
      }
    }

    if (rendered === undefined || !version.ok) {
      results.push({ name: 'config', ok: false, skipped: true, message: `not checked: ${rendered === undefined ? 'the template did not render' : 'no usable HAProxy'}` });
    } else {
      const file = path.join(settingsDir!, 'haproxy.cfg');
      await ensureHealthMap(path.join(settingsDir!, 'health.map'));
      await writeFile(file, rendered);
      const haproxy = new HaproxyProcess({
        bin: config.haproxyBin,
        configPath: file,
        pidfile: path.join(settingsDir!, 'haproxy.pid'),
        masterSocket: path.join(settingsDir!, 'master.sock'),
        logger: silentLogger(),
      });
      try {
        await haproxy.validate(file);
        results.push({ name: 'config', ok: true, message: 'haproxy -c accepts the rendered config' });
      } catch (e) {
        if (!(e instanceof ConfigValidationError)) throw e;
        results.push({ name: 'config', ok: false, message: describeValidationError(e, file, rendered, templateFile, text!) });
      }
    }
  } finally {
    if (settingsDir !== undefined) await rm(settingsDir, { recursive: true, force: true });
  }

  return { results, exitCode: results.every((r) => r.ok) ? 0 : 1 };
}
