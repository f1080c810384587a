import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';

/** The live config file's text, or undefined when there is none yet. */
export async function readConfigFile(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

/** A validated config in a temp file beside the live one, waiting to replace it. */
export interface StagedConfig {
  /** Atomically replaces the live file (rename in the same directory). */
  commit(): Promise<void>;
  discard(): Promise<void>;
}

/** Writes `text` to a temp file beside `file` and validates it there; the live file is untouched. */
export async function stageConfig(file: string, text: string, validate: (tempFile: string) => Promise<void>): Promise<StagedConfig> {
  const dir = path.dirname(file);
  await mkdir(dir, { recursive: true });
  const temp = path.join(dir, `.${path.basename(file)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  const discard = () => rm(temp, { force: true });
  try {
    await writeFile(temp, text, { mode: 0o644 });
    await validate(temp);
  } catch (e) {
    await discard();
    throw e;
  }
  return {
    commit: async () => {
      try {
        await rename(temp, file);
      } finally {
        await discard();
      }
    },
    discard,
  };
}

/**
 * Replaces `file` with `text` atomically, but only after `validate` accepted the new text in a temp
 * file beside it. On any failure the live file is untouched.
 */
export async function writeConfigAtomically(file: string, text: string, validate: (tempFile: string) => Promise<void>): Promise<void> {
  await (await stageConfig(file, text, validate)).commit();
}
