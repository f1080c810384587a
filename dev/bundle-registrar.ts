/**
 * The Route 53 registrar ships inside stacks/service.yml as the function's inline code, so the stack
 * deploys without an artifact bucket. This bundles src/registrar/handler.ts (and what it imports) into
 * one CommonJS file for the Lambda Node.js runtime, which provides the AWS SDK, and writes it into the
 * stack. `npm run build:registrar` runs it; the stacks test fails when the stack carries other code.
 *
 *   node dist/dev/bundle-registrar.js          rewrite stacks/service.yml
 *   node dist/dev/bundle-registrar.js --check  exit 1 if stacks/service.yml is out of date
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const SERVICE_STACK = path.join(ROOT, 'stacks', 'service.yml');
const ENTRY = path.join(ROOT, 'src', 'registrar', 'handler.ts');
/** The Lambda runtime the stack names (nodejs22.x). */
const LAMBDA_NODE_TARGET = 'node22';

export async function bundleRegistrar(): Promise<string> {
  const result = await build({
    entryPoints: [ENTRY],
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: LAMBDA_NODE_TARGET,
    // The runtime's own SDK; bundling it would make the stack megabytes long.
    external: ['@aws-sdk/*'],
    write: false,
    legalComments: 'none',
    charset: 'utf8',
    logLevel: 'silent',
  });
  const code = result.outputFiles[0]!.text.replace(/[ \t]+$/gm, '');
  return `// Generated from src/registrar by \`npm run build:registrar\`; edit the sources, not this.\n${code}`;
}

const ZIPFILE_LINE = /^( *)ZipFile: \|\n/m;

/** The inline code block of the stack's one `ZipFile: |`: its start, end and indentation. */
function locate(stack: string): { start: number; end: number; indent: string } {
  const match = ZIPFILE_LINE.exec(stack);
  if (match === null || ZIPFILE_LINE.exec(stack.slice(match.index + match[0].length)) !== null) {
    throw new Error('stacks/service.yml must have exactly one "ZipFile: |" block (the registrar)');
  }
  const indent = `${match[1]}  `;
  const start = match.index + match[0].length;
  let end = start;
  for (const line of stack.slice(start).split('\n')) {
    if (line !== '' && !line.startsWith(indent)) break;
    end += line.length + 1;
  }
  // Trailing blank lines separate the block from the next key; they are not code.
  while (stack.slice(start, end).endsWith('\n\n')) end--;
  return { start, end, indent };
}

/** The stack with `code` as the registrar's inline code. */
export function withRegistrarCode(stack: string, code: string): string {
  const { start, end, indent } = locate(stack);
  const block = code
    .replace(/\n$/, '')
    .split('\n')
    .map((line) => (line === '' ? '' : indent + line))
    .join('\n');
  return `${stack.slice(0, start)}${block}\n${stack.slice(end)}`;
}

async function main(): Promise<void> {
  const stack = readFileSync(SERVICE_STACK, 'utf8');
  const updated = withRegistrarCode(stack, await bundleRegistrar());
  if (process.argv.includes('--check')) {
    if (updated !== stack) {
      console.error('stacks/service.yml does not carry the registrar built from src/registrar: run `npm run build:registrar`');
      process.exitCode = 1;
    }
    return;
  }
  if (updated !== stack) writeFileSync(SERVICE_STACK, updated);
  console.log(`${path.relative(process.cwd(), SERVICE_STACK)}: registrar ${updated === stack ? 'already up to date' : 'updated'}`);
}

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exitCode = 1;
  });
}
