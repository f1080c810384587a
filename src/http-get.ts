/**
 * HTTP GET for the daemon's plain-HTTP reads: the ECS task metadata endpoint, the peers' stats pages
 * and the Servers' status pages (BUSY_CHECK).
 *
 * Not fetch(): Node's fetch is undici, which parses HTTP in WebAssembly, and the daemon runs with V8's
 * --lite-mode (src/entrypoint.sh), which has no WebAssembly. node:http parses in C++, costs no extra
 * module, and streams: a peer's stats page (MBs at thousands of Servers) is read as it arrives.
 */
import http from 'node:http';

export interface GetLimits {
  /** The whole exchange, connect to last byte. */
  timeoutMs: number;
  /** A longer answer is refused (by its content-length, or as it streams). */
  maxBytes: number;
}

/**
 * GETs `url` (http:// only) and hands the body to `onChunk` as it arrives. Resolves when the body has
 * ended; rejects on a status other than 2xx ("answered 404"), an answer over `maxBytes`, a timeout,
 * a connection error, or an exception from `onChunk`. The request is torn down on any failure.
 */
export function getStreaming(url: string, limits: GetLimits, onChunk: (chunk: Buffer) => void): Promise<void> {
  let target: URL;
  try {
    target = new URL(url);
  } catch {
    return Promise.reject(new Error(`not a URL: ${url}`));
  }
  if (target.protocol !== 'http:') return Promise.reject(new Error(`only http:// is read, not ${target.protocol}//`));
  return new Promise((resolve, reject) => {
    let settled = false;
    const settle = (e?: unknown) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (e === undefined) return resolve();
      request.destroy();
      reject(e);
    };
    const timer = setTimeout(() => settle(new Error(`no answer within ${limits.timeoutMs} ms`)), limits.timeoutMs);
    const request = http.get(target, (res) => {
      const status = res.statusCode ?? 0;
      if (status < 200 || status > 299) return settle(new Error(`answered ${status}`));
      const length = Number(res.headers['content-length'] ?? 0);
      if (length > limits.maxBytes) return settle(new Error(`answer of ${length} bytes (at most ${limits.maxBytes} read)`));
      let bytes = 0;
      res.on('data', (chunk: Buffer) => {
        if (settled) return;
        bytes += chunk.length;
        if (bytes > limits.maxBytes) return settle(new Error(`answer of over ${limits.maxBytes} bytes`));
        try {
          onChunk(chunk);
        } catch (e) {
          settle(e);
        }
      });
      res.on('end', () => settle());
      res.on('error', settle);
    });
    request.on('error', settle);
  });
}

/** GETs `url` and returns its body as text (utf8); fails as getStreaming does. */
export async function getText(url: string, limits: GetLimits): Promise<string> {
  const chunks: Buffer[] = [];
  await getStreaming(url, limits, (chunk) => void chunks.push(chunk));
  return Buffer.concat(chunks).toString('utf8');
}
