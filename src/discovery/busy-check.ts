import type { BusyCheckConfig } from '../config.js';
import { getText } from '../http-get.js';
import type { Logger } from '../log.js';
import { formatAddress, type Server } from '../model.js';

const TIMEOUT_MS = 1500;
const CONCURRENCY = 16;
/** nginx-rtmp's stat page of a Server with its one stream is a few KB. */
const MAX_PAGE_BYTES = 1024 * 1024;

/**
 * Asks each Server's own status page whether it is streaming (nginx-rtmp: `rtmp_stat all` shows
 * <publishing/>). Each Proxy counts only its own connections; this is how it learns of the streams
 * other Proxies sent. A page that does not answer counts as not busy: HAProxy's health check is what
 * takes a dead Server out, and a flaky status page must not take capacity away.
 */
export async function findBusyServers(servers: readonly Server[], check: BusyCheckConfig, logger: Logger): Promise<Set<string>> {
  const busy = new Set<string>();
  const queue = [...servers];
  const worker = async () => {
    for (let s = queue.shift(); s !== undefined; s = queue.shift()) {
      const url = `http://${formatAddress(s.address, check.port)}${check.path}`;
      try {
        if ((await getText(url, { timeoutMs: TIMEOUT_MS, maxBytes: MAX_PAGE_BYTES })).includes(check.pattern)) busy.add(s.name);
      } catch (e) {
        logger.debug({ server: s.name, url, err: (e as Error).message }, 'busy check did not answer');
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(CONCURRENCY, servers.length) }, worker));
  return busy;
}
