/**
 * One way to call AWS, for discovery and task protection alike: the clients' options, a deadline on
 * each call (the SDK's retries included), and an error that says which call failed and why.
 */

/** Adaptive retry: the SDK's backoff plus client-side rate limiting when AWS throttles. Endpoints and credentials are the SDK's own (AWS_ENDPOINT_URL_ECS, …). */
export const AWS_CLIENT_OPTIONS = { retryMode: 'adaptive' } as const;

/** Node socket errors: the request never got an AWS answer. */
const NETWORK_ERROR_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);

/**
 * The AWS error name when AWS answered; otherwise 'NetworkError' (connection failed or dropped),
 * 'Timeout' (our deadline) or 'MalformedResponse' (a 2xx the SDK could not parse).
 */
export function errorCode(err: unknown): string {
  const e = err as { name?: unknown; code?: unknown; $metadata?: { httpStatusCode?: number } } | null;
  if (e === null || typeof e !== 'object') return 'UnknownError';
  // The SDK reports a dropped connection as name 'TimeoutError' with the socket error's code.
  if (typeof e.code === 'string' && NETWORK_ERROR_CODES.has(e.code)) return 'NetworkError';
  if (e.name === 'AbortError' || e.name === 'TimeoutError') return 'Timeout';
  const status = e.$metadata?.httpStatusCode;
  if (status !== undefined && status >= 200 && status < 300) return 'MalformedResponse';
  if (typeof e.name === 'string' && e.name !== '' && e.name !== 'Error') return e.name;
  return 'UnknownError';
}

/** A failed AWS call: `code` as errorCode() gives it; `refused` when AWS answered 4xx (nothing was applied). */
export class AwsCallError extends Error {
  readonly code: string;
  readonly refused: boolean;
  constructor(what: string, cause: unknown) {
    const code = errorCode(cause);
    super(`${what} failed: ${code}: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    this.name = 'AwsCallError';
    this.code = code;
    const status = (cause as { $metadata?: { httpStatusCode?: number } } | null)?.$metadata?.httpStatusCode;
    this.refused = status !== undefined && status >= 400 && status < 500;
  }
}

/** Runs one AWS call (`what`: e.g. "ecs:ListTasks") under a deadline; any failure is an AwsCallError. */
export async function callAws<T>(what: string, timeoutMs: number, send: (abortSignal: AbortSignal) => Promise<T>): Promise<T> {
  try {
    return await send(AbortSignal.timeout(timeoutMs));
  } catch (err) {
    throw new AwsCallError(what, err);
  }
}
