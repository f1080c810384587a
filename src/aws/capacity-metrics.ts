/**
 * CAPACITY_METRICS: this Proxy's share of the fleet's capacity to CloudWatch, one PutMetricData per
 * period on a timer of its own (a slow or failing CloudWatch never holds a sync up). A failed call is
 * logged once (recovery once) and the next period tries again; the SDK retries within a call.
 */
import type { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { capacityFigures, periodStart, type BackendCounters, type CapacityFigures } from '../core/capacity.js';
import { FailureLog, type Logger } from '../log.js';
import type { BackendServer, HoldReason } from '../model.js';
import { AWS_CLIENT_OPTIONS, callAws, type AwsCallError } from './call.js';

export interface CapacityPublisherOptions {
  namespace: string;
  periodSeconds: number;
  dimensions: Record<string, string>;
  /** What HAProxy routes to now, and its RTMP backend's counters. */
  readBackend: () => Promise<BackendServer[]>;
  readCounters: () => Promise<BackendCounters>;
  /** The last successful sync's holds (owned-by-peer ones are a peer's share). */
  held: () => ReadonlyArray<{ name: string; reason: HoldReason }>;
  logger: Logger;
  /** Default: a CloudWatch client from the SDK's own settings (AWS_ENDPOINT_URL_CLOUDWATCH, …). */
  client?: CloudWatchClient;
  now?: () => number;
  /** After each publication (tests, metrics): what was sent, or the error. */
  onPublished?: (result: { figures: CapacityFigures; timestamp: number } | { error: Error }) => void;
}

export interface CapacityPublisher {
  /** Publishes now (the timer calls this every period); never rejects. */
  publishNow(): Promise<void>;
  stop(): void;
}

const CALL_TIMEOUT_MS = 15_000;
/** Just after the period starts, so every Proxy stamps the same period. */
const OFFSET_MS = 2000;

export function startCapacityPublisher(opts: CapacityPublisherOptions): CapacityPublisher {
  const now = opts.now ?? Date.now;
  const failures = new FailureLog(opts.logger);
  let client = opts.client;
  let previousFailed: number | undefined;
  let inFlight: Promise<void> | undefined;
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const dimensions = Object.entries(opts.dimensions).map(([Name, Value]) => ({ Name, Value }));

  async function publish(): Promise<void> {
    try {
      const [backend, counters] = await Promise.all([opts.readBackend(), opts.readCounters()]);
      const figures = capacityFigures(backend, opts.held(), counters, previousFailed);
      previousFailed = counters.failedConnections;
      const timestamp = periodStart(now(), opts.periodSeconds);
      if (client === undefined) {
        const { CloudWatchClient } = await import('@aws-sdk/client-cloudwatch');
        client = new CloudWatchClient(AWS_CLIENT_OPTIONS);
      }
      const { PutMetricDataCommand } = await import('@aws-sdk/client-cloudwatch');
      const cw = client;
      await callAws('cloudwatch:PutMetricData', CALL_TIMEOUT_MS, (abortSignal) =>
        cw.send(
          new PutMetricDataCommand({
            Namespace: opts.namespace,
            MetricData: Object.entries(figures).map(([MetricName, Value]) => ({
              MetricName,
              Dimensions: dimensions,
              Timestamp: new Date(timestamp),
              Value,
              Unit: 'Count',
              StorageResolution: opts.periodSeconds < 60 ? 1 : 60,
            })),
          }),
          { abortSignal },
        ),
      );
      failures.recovered('capacity metrics published again');
      opts.onPublished?.({ figures, timestamp });
    } catch (e) {
      const err = e as AwsCallError;
      failures.failed(`capacity:${err.code ?? err.name}`, { err: err.message, namespace: opts.namespace }, 'capacity metrics not published; trying again next period');
      opts.onPublished?.({ error: err });
    }
  }

  const publishNow = () => (inFlight ??= publish().finally(() => (inFlight = undefined)));
  const schedule = () => {
    if (stopped) return;
    const periodMs = opts.periodSeconds * 1000;
    const wait = periodStart(now(), opts.periodSeconds) + periodMs + OFFSET_MS - now();
    timer = setTimeout(() => {
      void publishNow();
      schedule();
    }, wait);
    timer.unref();
  };
  schedule();
  return {
    publishNow,
    stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
    },
  };
}
