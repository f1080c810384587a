import { pino, type Logger } from 'pino';

export type { Logger };

/** JSON logs to stdout (one object per line), as a container log driver expects. */
export function createLogger(level: string = 'info', destination?: pino.DestinationStream): Logger {
  return pino({ name: 'rtmp-proxy', level, base: { name: 'rtmp-proxy' } }, destination);
}

/** A logger that drops everything: for tests and library use that do not care about logs. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
