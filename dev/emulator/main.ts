/**
 * The API emulator (ECS, EC2, Route 53, SQS, SNS, CloudWatch) as a process, for docker compose and manual runs:
 *
 *   node dist/dev/emulator/main.js
 *
 * Environment:
 *   EMULATOR_HOST     listen address (default 0.0.0.0)
 *   EMULATOR_PORT     listen port (default 4566, the port AWS emulators customarily use)
 *   EMULATOR_REGION   region in ARNs (default us-east-1)
 *   EMULATOR_TASKS    comma-separated IP literals, one RUNNING task each (default: none)
 *   EMULATOR_CLUSTER  cluster of the seeded tasks (default "default")
 *   EMULATOR_SERVICE  service of the seeded tasks (default: none)
 *   CREATE_TOPICS     comma-separated SNS topic names created at start (default: none)
 *   CREATE_QUEUES     comma-separated SQS queue names created at start (default: none)
 *   EVENT_TARGETS     comma-separated SNS topic / SQS queue ARNs that get the ECS task state change
 *                     events, as EventBridge rule targets (default: none, no events). The account is
 *                     123456789012, e.g. arn:aws:sns:us-east-1:123456789012:rtmp-server-events
 *   LOG_LEVEL         pino level (default info)
 *
 * The first line on stdout ("ECS emulator listening") carries the url and the created topics' ARNs
 * and queues' URLs. Point the daemon at it with AWS_ENDPOINT_URL_ECS / _EC2 / _SQS / _SNS / _CLOUDWATCH =
 * http://HOST:PORT, and drive it with the admin API, e.g.
 * `curl -XPOST localhost:4566/_emulator/tasks -d '{"address":"10.0.0.9"}'` (its event goes to EVENT_TARGETS).
 */
import { pathToFileURL } from 'node:url';
import { isIpLiteral } from '../../src/model.js';
import { createLogger } from '../../src/log.js';
import { startEcsEmulator } from './ecs-emulator.js';

export const DEFAULT_EMULATOR_PORT = 4566;

export interface EmulatorEnv {
  host: string;
  port: number;
  region: string;
  tasks: string[];
  cluster: string;
  service?: string;
  logLevel: string;
  /** Only present when set (CREATE_TOPICS, CREATE_QUEUES, EVENT_TARGETS). */
  createTopics?: string[];
  createQueues?: string[];
  eventTargets?: string[];
}

const NAME = /^[A-Za-z0-9_-]{1,255}$/;
const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

/** The emulator's settings from the environment, or every problem found, each naming the variable. */
export function parseEmulatorEnv(env: NodeJS.ProcessEnv): { ok: true; value: EmulatorEnv } | { ok: false; errors: string[] } {
  const errors: string[] = [];
  const host = env.EMULATOR_HOST ?? '0.0.0.0';
  if (!isIpLiteral(host) && host !== 'localhost') errors.push(`EMULATOR_HOST=${JSON.stringify(host)}: must be an IP address or "localhost"`);

  const portText = env.EMULATOR_PORT ?? String(DEFAULT_EMULATOR_PORT);
  const port = /^\d{1,5}$/.test(portText) ? Number(portText) : NaN;
  if (!(port >= 0 && port <= 65535)) errors.push(`EMULATOR_PORT=${JSON.stringify(portText)}: must be an integer 0-65535 (0 = any free port)`);

  const region = env.EMULATOR_REGION ?? 'us-east-1';
  if (!/^[a-z]{2}(-[a-z]+)+-\d$/.test(region)) errors.push(`EMULATOR_REGION=${JSON.stringify(region)}: must look like a region, e.g. us-east-1`);

  const tasks = (env.EMULATOR_TASKS ?? '').split(',').map((s) => s.trim()).filter((s) => s !== '');
  for (const ip of tasks) {
    if (!isIpLiteral(ip)) errors.push(`EMULATOR_TASKS: ${JSON.stringify(ip)} is not an IP address (want a comma-separated list such as 10.0.0.1,10.0.0.2)`);
  }

  const cluster = env.EMULATOR_CLUSTER ?? 'default';
  if (!NAME.test(cluster)) errors.push(`EMULATOR_CLUSTER=${JSON.stringify(cluster)}: must be 1-255 letters, digits, '-' or '_'`);
  const service = env.EMULATOR_SERVICE;
  if (service !== undefined && !NAME.test(service)) errors.push(`EMULATOR_SERVICE=${JSON.stringify(service)}: must be 1-255 letters, digits, '-' or '_'`);

  const list = (name: string) => (env[name] ?? '').split(',').map((s) => s.trim()).filter((s) => s !== '');
  const createTopics = list('CREATE_TOPICS');
  for (const name of createTopics) {
    if (!/^[A-Za-z0-9_-]{1,256}$/.test(name)) errors.push(`CREATE_TOPICS: ${JSON.stringify(name)} is not a topic name (1-256 letters, digits, '-' or '_')`);
  }
  const createQueues = list('CREATE_QUEUES');
  for (const name of createQueues) {
    if (!/^[A-Za-z0-9_-]{1,80}$/.test(name)) errors.push(`CREATE_QUEUES: ${JSON.stringify(name)} is not a queue name (1-80 letters, digits, '-' or '_')`);
  }
  const eventTargets = list('EVENT_TARGETS');
  for (const arn of eventTargets) {
    if (!/^arn:aws:(sns|sqs):[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}$/.test(arn)) {
      errors.push(`EVENT_TARGETS: ${JSON.stringify(arn)} is not an SNS topic or SQS queue ARN (e.g. arn:aws:sns:us-east-1:123456789012:events)`);
    }
  }

  const logLevel = env.LOG_LEVEL ?? 'info';
  if (!LOG_LEVELS.includes(logLevel)) errors.push(`LOG_LEVEL=${JSON.stringify(logLevel)}: must be one of ${LOG_LEVELS.join(', ')}`);

  if (errors.length > 0) return { ok: false, errors };
  return {
    ok: true,
    value: {
      host,
      port,
      region,
      tasks,
      cluster,
      ...(service !== undefined && { service }),
      logLevel,
      ...(createTopics.length > 0 && { createTopics }),
      ...(createQueues.length > 0 && { createQueues }),
      ...(eventTargets.length > 0 && { eventTargets }),
    },
  };
}

async function main(): Promise<void> {
  const parsed = parseEmulatorEnv(process.env);
  if (!parsed.ok) {
    for (const error of parsed.errors) process.stderr.write(`ecs-emulator: ${error}\n`);
    process.exit(2);
  }
  const env = parsed.value;
  const logger = createLogger(env.logLevel).child({ component: 'ecs-emulator' });
  const emulator = await startEcsEmulator({ host: env.host, port: env.port, region: env.region, logger });
  emulator.addCluster(env.cluster);
  const topics = (env.createTopics ?? []).map((name) => emulator.createTopic(name));
  const queues = (env.createQueues ?? []).map((name) => emulator.createQueue(name).queueUrl);
  emulator.setEventTargets(env.eventTargets ?? []);
  for (const address of env.tasks) {
    emulator.addTask({ address, cluster: env.cluster, ...(env.service !== undefined && { service: env.service }) });
  }
  logger.info(
    { url: emulator.url, cluster: env.cluster, service: env.service, tasks: env.tasks.length, topics, queues, eventTargets: env.eventTargets ?? [] },
    'ECS emulator listening',
  );

  const stop = (signal: string) => {
    logger.info({ signal }, 'ECS emulator stopping');
    emulator.close().then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error({ err }, 'ECS emulator close failed');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
}

// Run only as the entry point, so tests can import parseEmulatorEnv.
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err: unknown) => {
    process.stderr.write(`ecs-emulator: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
