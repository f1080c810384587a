import type { Server } from '../model.js';

/** A task that could not become a Server, and why (logged as a warning, never fatal). */
export interface SkippedTask {
  taskArn: string;
  reason: string;
}

/** A complete, successful discovery: the only thing allowed to change the backend. */
export interface DiscoveryResult {
  servers: Server[];
  skipped: SkippedTask[];
}

/** Where Servers come from. `discover` rejects (never resolves partially) when any call fails. */
export interface Discovery {
  discover(): Promise<DiscoveryResult>;
}

/** A failed discovery; `code` is the AWS error name when the failure came from AWS. */
export class DiscoveryError extends Error {
  readonly code: string;
  constructor(message: string, code: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'DiscoveryError';
    this.code = code;
  }
}
