import { pino, type Logger } from 'pino';
import pretty from 'pino-pretty';
import { ConfigError } from './config.js';

export type { Logger };

/** `json`: one pino JSON object per line (log drivers, files, pipes). `pretty`: for a person at a terminal. */
export type LogFormat = 'json' | 'pretty';

const LOG_FORMATS = ['auto', 'json', 'pretty'] as const;

/**
 * Which format the logs take: LOG_FORMAT=json or pretty wins; unset (or `auto`), pretty only when
 * stdout is a terminal, so a container's log driver, a pipe or a file always gets JSON. Pure.
 * Throws a ConfigError naming LOG_FORMAT for any other value.
 */
export function chooseLogFormat(opts: { isTTY: boolean | undefined; env: Readonly<Record<string, string | undefined>> }): LogFormat {
  const raw = opts.env.LOG_FORMAT?.trim() ?? '';
  const value = raw === '' ? 'auto' : raw;
  if (!(LOG_FORMATS as readonly string[]).includes(value)) throw new ConfigError('LOG_FORMAT', raw, `one of ${LOG_FORMATS.join(', ')}`);
  if (value === 'json' || value === 'pretty') return value;
  return opts.isTTY === true ? 'pretty' : 'json';
}

/** pino-pretty as a stream in this thread (no worker): one line per event, local time, no pid/hostname noise. */
function prettyStream(): pino.DestinationStream {
  return pretty({
    colorize: pretty.isColorSupported,
    translateTime: 'SYS:HH:MM:ss.l',
    ignore: 'pid,hostname,name',
    singleLine: true,
    sync: true,
  });
}

/**
 * The daemon's logger. With a `destination`, JSON to it (tests and library callers read the lines).
 * Without one, to stdout in `format`; `auto` (the default) is chooseLogFormat() for this process:
 * pretty at a terminal, JSON otherwise (an invalid LOG_FORMAT, which the CLI refuses before this, means JSON).
 */
export function createLogger(level: string = 'info', destination?: pino.DestinationStream, format: LogFormat | 'auto' = 'auto'): Logger {
  const options = { name: 'rtmp-proxy', level, base: { name: 'rtmp-proxy' } };
  if (destination !== undefined) return pino(options, destination);
  const chosen = format === 'auto' ? safeChoice() : format;
  return chosen === 'pretty' ? pino(options, prettyStream()) : pino(options);
}

function safeChoice(): LogFormat {
  try {
    return chooseLogFormat({ isTTY: process.stdout.isTTY, env: process.env });
  } catch {
    return 'json';
  }
}

/** A logger that drops everything: for tests and library use that do not care about logs. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}

/**
 * Failures that repeat, logged so that a long outage is a few clear lines, not a flood: the first
 * failure of a kind is an error, every 10th of that kind a warning, the others debug. `recovered()`
 * ends the streak with one info line.
 */
export class FailureLog {
  private readonly counts = new Map<string, number>();
  constructor(private readonly logger: Logger) {}

  failed(kind: string, fields: Record<string, unknown>, message: string): void {
    const n = (this.counts.get(kind) ?? 0) + 1;
    this.counts.set(kind, n);
    if (n === 1) this.logger.error(fields, message);
    else if (n % 10 === 0) this.logger.warn({ ...fields, times: n }, `${message} (still failing)`);
    else this.logger.debug(fields, message);
  }

  /** After a success: says once what had been failing (failures by kind), then starts afresh. */
  recovered(message: string): void {
    if (this.counts.size === 0) return;
    this.logger.info({ failures: Object.fromEntries(this.counts) }, message);
    this.counts.clear();
  }
}
