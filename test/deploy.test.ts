// `yarn run deploy <version>` / `npm run deploy -- <version>` (stacks/deploy.sh) with stub `aws` and
// `docker` executables first on PATH; they record every call, in order, and what docker login read.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { PACKAGE_ROOT } from '../src/paths.js';

const ROOT = PACKAGE_ROOT;
const dir = mkdtempSync(path.join(tmpdir(), 'rtmp-proxy-deploy-'));
const bin = path.join(dir, 'bin');
const log = path.join(dir, 'calls.log');
const stdinLog = path.join(dir, 'login-stdin');

// One line per call: the program, then its arguments, tab-separated.
const record = `{ printf '%s' "$(basename "$0")"; for a in "$@"; do printf '\\t%s' "$a"; done; printf '\\n'; } >> "${log}"`;
const AWS_STUB = `#!/bin/sh
${record}
case "$1 $2" in
  "sts get-caller-identity") echo "\${STUB_ACCOUNT-123456789012}" ;;
  "ecr get-login-password") printf 'stub-ecr-password\\n' ;;
  "configure get") [ -n "\${STUB_CONFIGURED_REGION:-}" ] || exit 1; echo "$STUB_CONFIGURED_REGION" ;;
esac
`;
const DOCKER_STUB = `#!/bin/sh
${record}
if [ "$1" = login ]; then cat > "${stdinLog}"; fi
if [ "$1" = "\${STUB_DOCKER_FAIL:-}" ]; then echo "docker $1 failed" >&2; exit 1; fi
exit 0
`;

function setup() {
  rmSync(bin, { recursive: true, force: true });
  spawnSync('mkdir', ['-p', bin]);
  writeFileSync(path.join(bin, 'aws'), AWS_STUB);
  writeFileSync(path.join(bin, 'docker'), DOCKER_STUB);
  chmodSync(path.join(bin, 'aws'), 0o755);
  chmodSync(path.join(bin, 'docker'), 0o755);
}
setup();
after(() => rmSync(dir, { recursive: true, force: true }));

/** The inherited environment without any AWS or deploy setting, so only the test's own count. */
function cleanEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v === undefined || /^(AWS_|ECR_|DOCKER_|STUB_|npm_)/.test(k)) continue;
    env[k] = v;
  }
  env.PATH = `${bin}:${env.PATH ?? '/usr/bin:/bin'}`;
  env.HOME = dir;
  return env;
}

function deploy(args: string[], env: Record<string, string> = {}, via: 'sh' | 'npm' = 'sh') {
  rmSync(log, { force: true });
  rmSync(stdinLog, { force: true });
  const [cmd, argv] = via === 'sh' ? ['sh', [path.join(ROOT, 'stacks', 'deploy.sh'), ...args]] : ['npm', ['run', '--silent', 'deploy', '--', ...args]];
  const r = spawnSync(cmd, argv as string[], { cwd: ROOT, env: { ...cleanEnv(), ...env }, encoding: 'utf8', timeout: 60_000 });
  const calls = existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n').filter(Boolean).map((l) => l.split('\t')) : [];
  return { status: r.status, stderr: r.stderr, calls, loginStdin: existsSync(stdinLog) ? readFileSync(stdinLog, 'utf8') : undefined };
}

const pushCalls = (registry: string, version: string, platform = 'linux/amd64') => [
  ['docker', 'login', '--username', 'AWS', '--password-stdin', registry],
  ['docker', 'build', '--platform', platform, '--label', `org.opencontainers.image.version=${version}`, '--tag', `rtmp-proxy:${version}`, '.'],
  ['docker', 'tag', `rtmp-proxy:${version}`, `${registry}/rtmp-proxy:${version}`],
  ['docker', 'push', `${registry}/rtmp-proxy:${version}`],
];

describe('yarn run deploy <version>', () => {
  it('logs in to ECR, builds, tags and pushes <account>.dkr.ecr.<region>.amazonaws.com/rtmp-proxy:<version>, in that order', () => {
    const r = deploy(['1.2.3'], { AWS_REGION: 'eu-west-1' });
    assert.equal(r.status, 0, r.stderr);
    const registry = '123456789012.dkr.ecr.eu-west-1.amazonaws.com';
    assert.deepEqual(r.calls, [
      ['aws', 'sts', 'get-caller-identity', '--query', 'Account', '--output', 'text'],
      ['aws', 'ecr', 'get-login-password', '--region', 'eu-west-1'],
      ...pushCalls(registry, '1.2.3'),
    ]);
    // The password reaches docker on stdin, never as an argument.
    assert.equal(r.loginStdin, 'stub-ecr-password');
    assert.ok(!r.calls.flat().includes('stub-ecr-password'));
    assert.match(r.stderr, /sh \.\/stack-up\.sh service ImageVersion=1\.2\.3/);
  });

  it('pushes to the repository of STACK_PREFIX, as stack-up.sh names it', () => {
    const r = deploy(['1.2.3'], { AWS_ACCOUNT_ID: '123456789012', AWS_REGION: 'eu-west-1', STACK_PREFIX: 'staging' });
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(r.calls.at(-1), ['docker', 'push', '123456789012.dkr.ecr.eu-west-1.amazonaws.com/staging:1.2.3']);
  });

  it('takes the account from AWS_ACCOUNT_ID and the region from AWS_DEFAULT_REGION, the repository and platform from the environment', () => {
    const r = deploy(['v2.0.0-rc.1'], { AWS_ACCOUNT_ID: '210987654321', AWS_DEFAULT_REGION: 'ap-south-1', ECR_REPOSITORY: 'streaming/proxy', DOCKER_PLATFORM: 'linux/arm64' });
    assert.equal(r.status, 0, r.stderr);
    const registry = '210987654321.dkr.ecr.ap-south-1.amazonaws.com';
    assert.deepEqual(r.calls, [
      ['aws', 'ecr', 'get-login-password', '--region', 'ap-south-1'],
      ['docker', 'login', '--username', 'AWS', '--password-stdin', registry],
      ['docker', 'build', '--platform', 'linux/arm64', '--label', 'org.opencontainers.image.version=v2.0.0-rc.1', '--tag', 'rtmp-proxy:v2.0.0-rc.1', '.'],
      ['docker', 'tag', 'rtmp-proxy:v2.0.0-rc.1', `${registry}/streaming/proxy:v2.0.0-rc.1`],
      ['docker', 'push', `${registry}/streaming/proxy:v2.0.0-rc.1`],
    ]);
  });

  it('asks the AWS CLI for the region when the environment has none', () => {
    const r = deploy(['abcdef1'], { AWS_ACCOUNT_ID: '123456789012', STUB_CONFIGURED_REGION: 'us-west-2' });
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(r.calls.slice(0, 2), [
      ['aws', 'configure', 'get', 'region'],
      ['aws', 'ecr', 'get-login-password', '--region', 'us-west-2'],
    ]);
    assert.deepEqual(r.calls.slice(2), pushCalls('123456789012.dkr.ecr.us-west-2.amazonaws.com', 'abcdef1'));
  });

  it('stops before docker when there is no region or no valid account', () => {
    const noRegion = deploy(['1.0.0'], { AWS_ACCOUNT_ID: '123456789012' });
    assert.equal(noRegion.status, 1);
    assert.match(noRegion.stderr, /no AWS region: set AWS_REGION/);
    assert.ok(noRegion.calls.every((c) => c[0] === 'aws'));

    const badAccount = deploy(['1.0.0'], { AWS_REGION: 'eu-west-1', STUB_ACCOUNT: 'None' });
    assert.equal(badAccount.status, 1);
    assert.match(badAccount.stderr, /account id "None" is not 12 digits/);
    assert.ok(badAccount.calls.every((c) => c[0] === 'aws'));
  });

  it('fails when a docker step fails, and pushes nothing after a failed build', () => {
    const r = deploy(['1.0.1'], { AWS_REGION: 'eu-west-1', AWS_ACCOUNT_ID: '123456789012', STUB_DOCKER_FAIL: 'build' });
    assert.notEqual(r.status, 0);
    assert.deepEqual(r.calls.map((c) => c.slice(0, 2).join(' ')), ['aws ecr', 'docker login', 'docker build']);
  });

  it('refuses a missing or malformed version with a clear message and exit code 2, calling nothing', () => {
    const cases: string[][] = [[], [''], ['latest'], ['1.2'], ['1.2.3.4'], ['01.2.3'], ['1.2.3+build.5'], ['1.2.3-'], ['../1.2.3'], ['1.2.3 ; rm -rf /'], ['1.2.3\n'], ['ABCDEF1'], ['abc12'], ['1.2.3', '1.2.4']];
    for (const args of cases) {
      const r = deploy(args, { AWS_REGION: 'eu-west-1', AWS_ACCOUNT_ID: '123456789012' });
      assert.equal(r.status, 2, `${JSON.stringify(args)}: ${r.stderr}`);
      assert.deepEqual(r.calls, [], `${JSON.stringify(args)} called nothing`);
      assert.match(r.stderr, /usage: yarn run deploy <version>/);
      assert.match(r.stderr, args.length === 0 ? /the version is missing/ : args.length > 1 ? /expected one argument/ : /is not a version/);
    }
  });

  it('is wired in package.json: npm run deploy -- <version> does the same', () => {
    const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    assert.equal(pkg.scripts.deploy, 'sh ./stacks/deploy.sh');
    assert.doesNotMatch(pkg.scripts.deploy!, /\d{12}/, 'no account id in package.json');
    const r = deploy(['3.1.4'], { AWS_REGION: 'eu-central-1', AWS_ACCOUNT_ID: '123456789012' }, 'npm');
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(r.calls, [['aws', 'ecr', 'get-login-password', '--region', 'eu-central-1'], ...pushCalls('123456789012.dkr.ecr.eu-central-1.amazonaws.com', '3.1.4')]);
  });
});
