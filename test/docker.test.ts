// The image as far as this machine can check it (a Docker client, no engine): the Dockerfile's
// essentials, the compose file (docker-compose config + its wiring), and the entrypoint run outside
// Docker exactly as the image runs it: daemon up, health page 200, SIGTERM -> exit 0, HAProxy gone.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { createServer, request, type Server as HttpServer } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { CORE_SCHEMA, Schema, load, mergeTag } from 'js-yaml';
import { DEFAULT_HAPROXY_BIN, IMAGE_DEFAULTS, PACKAGE_ROOT } from '../src/paths.js';
import { maxconnUnderBursts, parseVersion, parseVersionOutput } from '../src/haproxy/version.js';
import { loadConfig } from '../src/config.js';
import { startEcsEmulator, type EcsEmulator } from '../dev/emulator/ecs-emulator.js';

const ROOT = PACKAGE_ROOT;
type Obj = Record<string, unknown>;

// ---- Dockerfile ----
interface Instruction {
  stage: number;
  op: string;
  args: string;
}
function parseDockerfile(text: string): Instruction[] {
  const lines = text.replace(/\\\n/g, ' ').split('\n');
  const out: Instruction[] = [];
  let stage = -1;
  for (const raw of lines) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([A-Za-z]+)\s+(.*)$/.exec(line);
    assert.ok(m, `a Dockerfile instruction: ${line}`);
    const op = m[1]!.toUpperCase();
    if (op === 'FROM') stage++;
    out.push({ stage, op, args: m[2]!.replace(/\s+/g, ' ').trim() });
  }
  return out;
}

/** The npm packages a compiled module and everything it imports (relatively, statically or dynamically) import. */
function packagesImportedFrom(entry: string): Set<string> {
  const packages = new Set<string>();
  const seen = new Set<string>();
  const queue = [entry];
  for (let i = 0; i < queue.length && i < 5000; i++) {
    const file = queue[i]!;
    if (seen.has(file)) continue;
    seen.add(file);
    const code = readFileSync(file, 'utf8');
    for (const m of code.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)['"]([^'"]+)['"]/g)) {
      const spec = m[1]!;
      if (spec.startsWith('node:')) continue;
      if (spec.startsWith('.')) queue.push(path.resolve(path.dirname(file), spec));
      else packages.add(spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!);
    }
  }
  return packages;
}

describe('Dockerfile', () => {
  const text = readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8');
  const ins = parseDockerfile(text);
  const last = Math.max(...ins.map((i) => i.stage));
  const final = ins.filter((i) => i.stage === last);
  const one = (op: string) => {
    const found = final.filter((i) => i.op === op);
    assert.ok(found.length > 0, `the runtime stage has ${op}`);
    return found[found.length - 1]!.args;
  };

  it('is multi-stage, every base image pinned to a version tag; the runtime is the official HAProxy LTS image with Node LTS', () => {
    const froms = ins.filter((i) => i.op === 'FROM').map((i) => i.args.split(' ')[0]!);
    assert.ok(froms.length >= 2, 'multi-stage');
    const stageNames = ins.filter((i) => i.op === 'FROM').map((i) => /\bAS (\S+)/i.exec(i.args)?.[1]);
    for (const image of froms) {
      if (stageNames.includes(image)) continue; // a previous stage
      assert.match(image, /^[a-z0-9./-]+:\d+(\.\d+)+(-[a-z0-9.-]+)?$/, `${image} is pinned to a version tag`);
      assert.doesNotMatch(image, /:latest|:lts|:current/);
    }
    // The image ships the HAProxy branch the suite runs (test/build-haproxy.sh), one that keeps maxconn 1 under bursts.
    const runtime = /^haproxy:(\d+)\.(\d+)\.(\d+)-/.exec(froms[froms.length - 1]!);
    assert.ok(runtime, `the runtime is the official HAProxy image pinned to a release: ${froms[froms.length - 1]}`);
    const shipped = parseVersion(`${runtime[1]}.${runtime[2]}.${runtime[3]}`)!;
    assert.ok(maxconnUnderBursts(shipped).holds, `HAProxy ${shipped.text} keeps maxconn 1 under bursts`);
    const tested = parseVersion(parseVersionOutput(spawnSync(DEFAULT_HAPROXY_BIN, ['-v'], { encoding: 'utf8' }).stdout) ?? '');
    assert.ok(tested, `the suite's HAProxy (${DEFAULT_HAPROXY_BIN}) answers -v`);
    assert.equal(`${shipped.major}.${shipped.minor}`, `${tested.major}.${tested.minor}`, 'the image ships the branch the suite tests');
    assert.ok(froms.some((f) => /^node:26\.\d+\.\d+-/.test(f)), 'Node 26, the active LTS');
    // The image's Node is the one the suite runs on: package.json's `node` devDependency, this process.
    const imageNode = /^node:(\d+\.\d+\.\d+)-/.exec(froms.find((f) => f.startsWith('node:'))!)![1]!;
    const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { devDependencies: Record<string, string>; engines: { node: string } };
    assert.equal(pkg.devDependencies.node, imageNode, "package.json's node devDependency is the image's Node, exactly");
    assert.equal(process.versions.node, imageNode, 'the suite runs on the Node the image ships (npm test puts node_modules/.bin first)');
    assert.equal(pkg.engines.node, '>=22');
    assert.ok(final.some((i) => i.op === 'COPY' && i.args.includes('--from=node') && i.args.includes('/usr/local/bin/node')));
  });

  it('runs as a non-root user, under tini, stopping with SIGTERM; exposes 1935 and 8000 with a health check', () => {
    const user = one('USER').split(':')[0]!;
    assert.notEqual(user, 'root');
    assert.notEqual(user, '0');
    assert.deepEqual(one('EXPOSE').split(' ').sort(), ['1935', '443', '8000']);
    // RTMPS on 443 as the non-root haproxy user: the binary may bind low ports, nothing more.
    assert.match(final.filter((i) => i.op === 'RUN').map((i) => i.args).join('\n'), /setcap cap_net_bind_service=\+ep \/usr\/local\/sbin\/haproxy/);
    assert.equal(one('STOPSIGNAL'), 'SIGTERM');
    const entrypoint = JSON.parse(one('ENTRYPOINT')) as string[];
    assert.equal(entrypoint[0], '/usr/bin/tini');
    assert.ok(entrypoint.includes('--'));
    assert.equal(entrypoint[entrypoint.length - 1], '/app/src/entrypoint.sh');
    assert.deepEqual(JSON.parse(one('CMD')), ['run']);
    assert.match(one('HEALTHCHECK'), /CMD \["\/app\/src\/entrypoint\.sh", "healthcheck"\]$/);
    assert.match(final.filter((i) => i.op === 'RUN').map((i) => i.args).join('\n'), /apt-get install -y --no-install-recommends tini/);
  });

  it('ships the daemon only: no development tooling (dev/: demo, media rig, emulator) in the production image', () => {
    const copies = final.filter((i) => i.op === 'COPY').map((i) => i.args);
    assert.ok(copies.some((c) => c.includes('/app/dist/src')), 'the daemon is copied');
    for (const c of copies) assert.doesNotMatch(c, /\bdev\b/, `the runtime stage copies no development tooling: COPY ${c}`);
  });

  it("gives each stage's code the packages it imports: the daemon only production dependencies, the emulator development ones too", () => {
    const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { dependencies: Obj; devDependencies: Obj };
    const stageName = (n: number) => /\bAS (\S+)/i.exec(ins.find((i) => i.op === 'FROM' && i.stage === n)!.args)?.[1];
    /** The stage a stage's node_modules comes from, and whether that stage installs development dependencies. */
    const nodeModulesOf = (stage: string) => {
      const n = ins.find((i) => i.op === 'FROM' && stageName(i.stage) === stage)!.stage;
      const copy = ins.find((i) => i.stage === n && i.op === 'COPY' && /\/app\/node_modules /.test(i.args))!;
      const from = /--from=(\S+)/.exec(copy.args)![1]!;
      const fromStage = ins.find((i) => i.op === 'FROM' && stageName(i.stage) === from)!.stage;
      const runs = ins.filter((i) => i.stage === fromStage && i.op === 'RUN').map((i) => i.args).join('\n');
      assert.match(runs, /npm ci/, `${from} installs with npm ci`);
      return { from, devDependencies: !/--omit=dev|npm prune/.test(runs) };
    };
    const runtime = nodeModulesOf(stageName(last)!);
    assert.equal(runtime.devDependencies, false, `the production image has production dependencies only (from ${runtime.from})`);
    for (const name of packagesImportedFrom(path.join(ROOT, 'dist', 'src', 'cli.js'))) {
      assert.ok(name in pkg.dependencies, `the daemon imports ${name}: a production dependency`);
    }
    const emulator = nodeModulesOf('emulator');
    const emulatorPackages = packagesImportedFrom(path.join(ROOT, 'dist', 'dev', 'emulator', 'main.js'));
    assert.ok(emulatorPackages.has('fast-xml-parser'), 'the walk sees the emulator\'s imports');
    for (const name of emulatorPackages) {
      assert.ok(name in pkg.dependencies || (emulator.devDependencies && name in pkg.devDependencies), `the emulator imports ${name}: present in its stage`);
    }
  });

  it('puts rtmp-proxy on PATH: the CLI, with its #! line, linked into /usr/local/bin', () => {
    const runs = final.filter((i) => i.op === 'RUN').map((i) => i.args).join('\n');
    assert.match(runs, /ln -s \/app\/dist\/src\/cli\.js \/usr\/local\/bin\/rtmp-proxy/);
    assert.match(runs, /chmod 0755 [^&]*\/app\/dist\/src\/cli\.js/);
    assert.match(readFileSync(path.join(ROOT, 'dist', 'src', 'cli.js'), 'utf8'), /^#!\/usr\/bin\/env node\n/, 'the built CLI runs as a program');
  });

  it("makes the config dir and the run dir the user's own (run dir mode 700), at src/config.ts's paths", () => {
    const runs = final.filter((i) => i.op === 'RUN').map((i) => i.args).join('\n');
    const configDir = path.dirname(IMAGE_DEFAULTS.haproxyConfig);
    assert.equal(configDir, '/usr/local/etc/haproxy');
    assert.ok(runs.includes(`chown haproxy:haproxy ${configDir} ${IMAGE_DEFAULTS.runDir}`), runs);
    assert.ok(runs.includes(`chmod 0700 ${IMAGE_DEFAULTS.runDir}`));
    assert.equal(one('USER'), 'haproxy:haproxy');
    const entry = readFileSync(path.join(ROOT, 'src', 'entrypoint.sh'), 'utf8');
    assert.ok(entry.includes(IMAGE_DEFAULTS.haproxyConfig) && entry.includes(`${IMAGE_DEFAULTS.runDir}/admin.sock`), 'the entrypoint has the same defaults');
  });

  it('copies only what exists and what .dockerignore lets through', () => {
    const ignored = readFileSync(path.join(ROOT, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
    for (const i of ins.filter((x) => x.op === 'COPY' && !x.args.includes('--from'))) {
      const sources = i.args.split(' ').filter((a) => !a.startsWith('--')).slice(0, -1);
      for (const src of sources) {
        assert.ok(existsSync(path.join(ROOT, src)), `${src} exists`);
        assert.ok(!ignored.includes(src) && !ignored.includes(src.split('/')[0]!), `${src} is in the build context`);
      }
    }
    for (const needed of ['node_modules', 'dist', '.git', 'test']) assert.ok(ignored.includes(needed), `.dockerignore keeps ${needed} out`);
  });
});

// ---- docker-compose.yml ----
describe('docker-compose.yml', () => {
  const compose = load(readFileSync(path.join(ROOT, 'docker-compose.yml'), 'utf8'), { schema: new Schema([...CORE_SCHEMA.tags, mergeTag]) }) as {
    services: Record<string, Obj & { environment?: Record<string, string>; ports?: string[]; networks?: Record<string, { ipv4_address: string }> }>;
    networks: Obj;
  };
  const s = compose.services;

  const dockerCompose = spawnSync('docker-compose', ['version'], { encoding: 'utf8' });
  it('passes docker-compose config', { skip: dockerCompose.error ? 'docker-compose is not installed (Debian package docker-compose; test/ensure-deps.sh installs it)' : false }, () => {
    const r = spawnSync('docker-compose', ['-f', 'docker-compose.yml', 'config', '--quiet'], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    const services = spawnSync('docker-compose', ['-f', 'docker-compose.yml', 'config', '--services'], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
    assert.deepEqual(services.stdout.trim().split('\n').sort(), ['ecs-emulator', 'proxy', 'server-1', 'server-2', 'server-3']);
  });

  it("builds the Proxy from the Dockerfile's default target and the emulator from its development-only stage", () => {
    assert.equal(s.proxy!.build, '.');
    assert.deepEqual(s.proxy!.ports, ['1935:1935', '8000:8000']);
    assert.deepEqual(s['ecs-emulator']!.build, { context: '.', target: 'emulator' });
    assert.notEqual(s['ecs-emulator']!.image, s.proxy!.image, 'the emulator is not the production image');
    const stages = parseDockerfile(readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8')).filter((i) => i.op === 'FROM').map((i) => /\bAS (\S+)/i.exec(i.args)?.[1]);
    assert.ok(stages.includes('emulator'), 'the Dockerfile has the emulator stage');
    assert.notEqual(stages[stages.length - 1], 'emulator', 'and it is not the default (last) target');
  });

  it("seeds the emulator with the Servers' fixed addresses and points the daemon at it", () => {
    const servers = Object.keys(s).filter((k) => k.startsWith('server-'));
    assert.ok(servers.length >= 2 && servers.length <= 3);
    const ips = servers.map((k) => s[k]!.networks!.rtmp!.ipv4_address);
    const emu = s['ecs-emulator']!.environment!;
    assert.deepEqual(emu.EMULATOR_TASKS!.split(',').sort(), [...ips].sort());
    const env = s.proxy!.environment!;
    assert.equal(env.DISCOVERY, 'ecs');
    assert.equal(env.ECS_CLUSTER, emu.EMULATOR_CLUSTER);
    assert.equal(env.ECS_SERVICE, emu.EMULATOR_SERVICE);
    assert.equal(env.AWS_ENDPOINT_URL_ECS, `http://ecs-emulator:${emu.EMULATOR_PORT}`);
    assert.equal(env.AWS_ENDPOINT_URL_EC2, env.AWS_ENDPOINT_URL_ECS);
    // ECS task events: the emulator publishes to the topic the Proxy subscribes to, and the daemon accepts the settings.
    assert.equal(env.AWS_ENDPOINT_URL_SQS, env.AWS_ENDPOINT_URL_ECS);
    assert.equal(env.AWS_ENDPOINT_URL_SNS, env.AWS_ENDPOINT_URL_ECS);
    assert.equal(emu.EVENT_TARGETS, env.EVENTS_TOPIC_ARN);
    assert.ok(env.EVENTS_TOPIC_ARN!.endsWith(`:${emu.CREATE_TOPICS}`) && env.EVENTS_TOPIC_ARN!.includes(`:${emu.EMULATOR_REGION}:`));
    assert.ok(loadConfig(env as Record<string, string>).events?.topicArn, 'the compose settings are a valid config with events');
    assert.ok(env.AWS_REGION && env.AWS_ACCESS_KEY_ID && env.AWS_SECRET_ACCESS_KEY, 'the SDK has a region and (dummy) credentials');
    // Every setting is one the daemon or the emulator reads.
    const config = readFileSync(path.join(ROOT, 'src', 'config.ts'), 'utf8');
    for (const name of Object.keys(env).filter((n) => !n.startsWith('AWS_'))) assert.ok(config.includes(`'${name}'`), `${name} is read by src/config.ts`);
    const emulatorMain = readFileSync(path.join(ROOT, 'dev', 'emulator', 'main.ts'), 'utf8');
    for (const name of Object.keys(emu)) assert.ok(emulatorMain.includes(`env.${name}`) || emulatorMain.includes(`'${name}'`), `${name} is read by dev/emulator/main.ts`);
    // Fixed addresses inside the network's subnet; the proxy reaches the Servers on SERVER_PORT.
    const subnet = ((compose.networks.rtmp as Obj).ipam as { config: { subnet: string }[] }).config[0]!.subnet;
    const prefix = subnet.replace(/\.0\/24$/, '.');
    for (const ip of [...ips, s.proxy!.networks!.rtmp!.ipv4_address, s['ecs-emulator']!.networks!.rtmp!.ipv4_address]) assert.ok(ip.startsWith(prefix), `${ip} in ${subnet}`);
    assert.equal(env.SERVER_PORT, '1935');
  });

  it("publishes each Server's stat page on its own host port, from a pinned nginx-rtmp image", () => {
    const servers = Object.keys(s).filter((k) => k.startsWith('server-'));
    const hostPorts = servers.map((k) => {
      const ports = s[k]!.ports!;
      assert.equal(ports.length, 1);
      assert.match(ports[0]!, /^\d+:8080$/);
      return ports[0]!.split(':')[0];
    });
    assert.equal(new Set(hostPorts).size, servers.length);
    assert.ok(!hostPorts.includes('8000') && !hostPorts.includes('1935'));
    for (const k of servers) assert.match(s[k]!.image as string, /^tiangolo\/nginx-rtmp:latest-\d{4}-\d{2}-\d{2}$/);
  });

  const nginx = ['/usr/sbin/nginx', 'nginx'].find((b) => !spawnSync(b, ['-v']).error);
  const rtmpModule = '/usr/lib/nginx/modules/ngx_rtmp_module.so';
  it("writes an nginx config that nginx with the RTMP module accepts (application /stream, /stat)", { skip: nginx && existsSync(rtmpModule) ? false : 'nginx with libnginx-mod-rtmp is not installed' }, () => {
    const script = (s['server-1']!.command as string[])[0]!;
    const dir = mkdtempSync(path.join(tmpdir(), 'rtmp-proxy-nginx-'));
    try {
      const conf = path.join(dir, 'nginx.conf');
      const local = script.replace('/etc/nginx/nginx.conf', conf).replace(/^exec nginx.*$/m, '');
      const w = spawnSync('sh', ['-c', local], { encoding: 'utf8' });
      assert.equal(w.status, 0, w.stderr);
      const written = readFileSync(conf, 'utf8');
      assert.match(written, /application stream \{/);
      assert.match(written, /location \/stat \{ rtmp_stat all; \}/);
      writeFileSync(conf, `load_module ${rtmpModule};\npid ${dir}/nginx.pid;\nerror_log stderr;\n${written}`);
      const t = spawnSync(nginx!, ['-t', '-p', dir, '-c', conf], { encoding: 'utf8' });
      assert.equal(t.status, 0, t.stderr);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

// ---- the entrypoint, outside Docker ----
function httpStatus(host: string, port: number, path = '/live'): Promise<number> {
  return new Promise((resolve) => {
    const req = request({ host, port, path, timeout: 1000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', () => resolve(0));
    req.on('timeout', () => req.destroy());
    req.end();
  });
}
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
async function until<T>(what: string, ms: number, probe: () => Promise<T | undefined> | T | undefined): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('src/entrypoint.sh outside Docker', () => {
  const haproxy = ['/usr/sbin/haproxy', 'haproxy'].find((b) => !spawnSync(b, ['-v']).error);
  const dir = mkdtempSync(path.join(tmpdir(), 'rtmp-proxy-entrypoint-'));
  const children: ChildProcess[] = [];
  let haproxyPid: number | undefined;
  // The daemon runs as the image runs it, with the entrypoint's node flags (V8 lite mode: no
  // WebAssembly, so no fetch()), and makes every kind of call it makes in production: the AWS SDK to
  // the emulator (ECS discovery; ECS task events through SNS and SQS) and plain HTTP to a Server's
  // status page (BUSY_CHECK), which says the Server is busy, so the daemon holds it.
  const statusPageRequests: string[] = [];
  let statusPage: HttpServer | undefined;
  let emu: EcsEmulator | undefined;
  after(async () => {
    statusPage?.close();
    await emu?.close();
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    // The pidfile too: a test that failed before reading it must not leave HAProxy bound to its ports.
    haproxyPid ??= Number(existsSync(env.HAPROXY_PIDFILE) ? readFileSync(env.HAPROXY_PIDFILE, 'utf8').trim() : 0) || undefined;
    if (haproxyPid !== undefined && alive(haproxyPid)) process.kill(haproxyPid, 'SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  });
  const HOST = '127.0.40.1';
  const env = {
    ...process.env,
    PATH: `${process.env.PATH}:/usr/sbin:/sbin`,
    DISCOVERY: 'static',
    STATIC_SERVERS: '127.0.40.9:1935',
    SERVER_PORT: '1935',
    BIND_ADDRESS: HOST,
    RTMP_PORT: '1935',
    HEALTH_PORT: '8000',
    HAPROXY_BIN: haproxy ?? 'haproxy',
    HAPROXY_CONFIG: path.join(dir, 'etc', 'haproxy.cfg'),
    HAPROXY_PIDFILE: path.join(dir, 'run', 'haproxy.pid'),
    HAPROXY_SOCKET: path.join(dir, 'run', 'admin.sock'),
    SYNC_SCHEDULE: '*/2 * * * * *',
    BUSY_CHECK_PORT: '8089',
    SHUTDOWN_GRACE_SECONDS: '3',
    LOG_LEVEL: 'warn',
  };
  const entrypoint = path.join(ROOT, 'src', 'entrypoint.sh');

  it('starts the daemon and HAProxy, answers the health check, and exits 0 on SIGTERM with HAProxy stopped', { skip: haproxy ? false : 'haproxy is not installed', timeout: 60_000 }, async () => {
    statusPage = createServer((req, res) => {
      statusPageRequests.push(req.url ?? '');
      res.end('<rtmp><server><application><live><stream><publishing/></stream></live></application></server></rtmp>');
    });
    await new Promise<void>((resolve) => statusPage!.listen(8089, '127.0.40.9', () => resolve()));
    emu = await startEcsEmulator({ host: '127.0.0.1', port: 0 });
    const topicArn = emu.createTopic('server-events');
    emu.setEventTargets([topicArn]);
    emu.addTask({ cluster: 'media', address: '127.0.40.9', lastStatus: 'RUNNING' });
    const aws = { AWS_REGION: 'us-east-1', AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test' };
    const endpoints = Object.fromEntries(['ECS', 'SQS', 'SNS'].map((service) => [`AWS_ENDPOINT_URL_${service}`, emu!.url]));
    const runEnv = {
      ...env,
      ...aws,
      ...endpoints,
      DISCOVERY: 'ecs',
      ECS_CLUSTER: 'media',
      EVENTS_TOPIC_ARN: topicArn,
      PROXY_TASK_ARN: 'arn:aws:ecs:us-east-1:123456789012:task/proxies/0000000000000000000000000000ee01',
    };
    const child = spawn('sh', [entrypoint], { env: runEnv, stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    let output = '';
    child.stdout!.on('data', (d) => (output += d));
    child.stderr!.on('data', (d) => (output += d));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));

    await until(`the health page on ${HOST}:8000 (output: ${output})`, 20_000, async () => ((await httpStatus(HOST, 8000)) === 200 ? true : undefined));
    haproxyPid = Number(readFileSync(env.HAPROXY_PIDFILE, 'utf8').trim());
    assert.ok(alive(haproxyPid), 'HAProxy master runs');
    // The daemon (node itself, by exec) runs with the entrypoint's V8 flags, which this node accepted.
    const argv = readFileSync(`/proc/${child.pid}/cmdline`, 'utf8').split('\0');
    assert.deepEqual(argv.slice(1, 6), ['--max-semi-space-size=1', '--heap-growing-percent=20', '--lite-mode', '--no-node-snapshot', '--expose-gc'], argv.join(' '));
    // The run dir was created private to the user.
    assert.equal(statSync(path.join(dir, 'run')).mode & 0o777, 0o700);

    const hc = spawnSync('sh', [entrypoint, 'healthcheck'], { env, encoding: 'utf8', timeout: 10_000 });
    assert.equal(hc.status, 0, hc.stderr);
    const down = spawnSync('sh', [entrypoint, 'healthcheck'], { env: { ...env, BIND_ADDRESS: '127.0.40.2' }, encoding: 'utf8', timeout: 10_000 });
    assert.equal(down.status, 1);
    assert.match(down.stderr, /health page http:\/\/127\.0\.40\.2:8000\/live: ECONNREFUSED/);
    // The CLI's read-only commands go to the CLI, not to `exec` as a program name.
    const status = spawnSync('sh', [entrypoint, 'status'], { env, encoding: 'utf8', timeout: 10_000 });
    assert.equal(status.status, 0, status.stderr);
    assert.match(status.stdout, new RegExp(`^HAProxy master ${haproxyPid} `));
    // The Server ECS listed, held: its status page was read and says it streams.
    const statusNow = () => spawnSync('sh', [entrypoint, 'status'], { env, encoding: 'utf8', timeout: 10_000 }).stdout;
    await until(`the busy Server held in maintenance (status page asked: ${statusPageRequests.join(', ')})`, 10_000, () =>
      /127\.0\.40\.9:1935 .*maintenance/.test(statusNow()) ? true : undefined,
    );
    assert.ok(statusPageRequests.includes('/stat'), statusPageRequests.join(', '));
    // Route53's page says 503: the only Server (nothing listens there) is down, so no capacity;
    // the container's own check above still passed: a full Proxy is alive, not to be replaced.
    assert.equal(await httpStatus(HOST, 8000, '/'), 503);
    // Its own queue subscribed to the topic (SQS and SNS), then a new task reaches HAProxy by its event.
    await until('the daemon subscribed its queue', 10_000, () => (emu!.queues().length === 1 && emu!.topics()[0]!.subscriptions.length === 1 ? true : undefined));
    emu.addTask({ cluster: 'media', address: '127.0.40.10', lastStatus: 'RUNNING' });
    await until('the new task in HAProxy', 10_000, () => (/127\.0\.40\.10:1935 /.test(statusNow()) ? true : undefined));
    assert.ok(emu.calls('ReceiveMessage').length > 0 && emu.calls('ListTasks').length > 0);

    // `exec` made the daemon the entrypoint's own process: the signal reaches node itself.
    child.kill('SIGTERM');
    const code = await Promise.race([exited, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 20_000))]);
    assert.equal(code, 0, output);
    await until('HAProxy to stop', 5_000, () => (alive(haproxyPid!) ? undefined : true));
    assert.equal(emu.queues().length, 0, 'its queue removed at shutdown');
    assert.equal(await httpStatus(HOST, 8000), 0, 'nothing listens any more');
  });

  it('says which variable is wrong when HAProxy or a directory is unusable', () => {
    const r = spawnSync('sh', [entrypoint, 'run'], { env: { ...env, HAPROXY_BIN: '/nonexistent/haproxy' }, encoding: 'utf8', timeout: 10_000 });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /HAPROXY_BIN=\/nonexistent\/haproxy was not found/);
    const file = path.join(dir, 'a-file');
    writeFileSync(file, '');
    const r2 = spawnSync('sh', [entrypoint, 'once'], { env: { ...env, HAPROXY_PIDFILE: path.join(file, 'haproxy.pid') }, encoding: 'utf8', timeout: 10_000 });
    assert.equal(r2.status, 1);
    assert.match(r2.stderr, /HAPROXY_PIDFILE=.*a-file\/haproxy\.pid/);
  });

  it('gives run and once the V8 flags, which RTMP_PROXY_NODE_FLAGS replaces; the other commands get none', () => {
    // A stand-in node that prints the arguments it was given.
    const fakeNode = path.join(dir, 'fake-node');
    writeFileSync(fakeNode, '#!/bin/sh\necho "$@"\n', { mode: 0o755 });
    const args = (command: string, extra: Record<string, string> = {}) => {
      const r = spawnSync('sh', [entrypoint, command], { env: { ...env, NODE_BIN: fakeNode, ...extra }, encoding: 'utf8', timeout: 10_000 });
      assert.equal(r.status, 0, r.stderr);
      return r.stdout.trim();
    };
    const cli = path.join(ROOT, 'dist', 'src', 'cli.js');
    assert.equal(args('run'), `--max-semi-space-size=1 --heap-growing-percent=20 --lite-mode --no-node-snapshot --expose-gc ${cli} run`);
    assert.equal(args('once'), `--max-semi-space-size=1 --heap-growing-percent=20 --lite-mode --no-node-snapshot --expose-gc ${cli} once`);
    assert.equal(args('run', { RTMP_PROXY_NODE_FLAGS: '--max-semi-space-size=4' }), `--max-semi-space-size=4 ${cli} run`);
    assert.equal(args('run', { RTMP_PROXY_NODE_FLAGS: '' }), `${cli} run`);
    assert.equal(args('status'), `${cli} status`);
  });

  it('passes --help and check to the CLI and runs any other command as given', () => {
    const help = spawnSync('sh', [entrypoint, '--help'], { env, encoding: 'utf8', timeout: 10_000 });
    assert.equal(help.status, 0);
    assert.match(help.stdout, /Usage: rtmp-proxy <command>/);
    const check = spawnSync('sh', [entrypoint, 'check'], { env, encoding: 'utf8', timeout: 30_000 });
    assert.match(check.stdout, /^(ok|WARN) +environment: /m, check.stderr);
    const other = spawnSync('sh', [entrypoint, 'echo', 'hello'], { env, encoding: 'utf8', timeout: 10_000 });
    assert.equal(other.stdout, 'hello\n');
  });
});
