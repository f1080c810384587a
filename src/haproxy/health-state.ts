import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { HealthState } from '../model.js';
import type { RuntimeApi } from './runtime-api.js';

const KEY = 'health';

/**
 * Creates the health map file HAProxy's config reads, when it is missing (HAProxy refuses a config
 * whose map file does not exist). With `state`, (re)writes it: a daemon that starts says `up`.
 */
export async function ensureHealthMap(file: string, state?: HealthState): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  if (state === undefined) {
    await writeFile(file, `${KEY} up\n`, { flag: 'wx' }).catch((e: NodeJS.ErrnoException) => {
      if (e.code !== 'EEXIST') throw e;
    });
  } else {
    await writeFile(file, `${KEY} ${state}\n`);
  }
}

/** Flips the running HAProxy's health answer at once, and the file, so a restart keeps it. */
export async function setHealthState(runtime: RuntimeApi, file: string, state: HealthState): Promise<void> {
  await ensureHealthMap(file, state);
  await runtime.change(`set map ${file} ${KEY} ${state}`);
}
