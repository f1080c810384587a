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

/**
 * Replaces `file` with `text` atomically, but only after `validate` accepted the new text in a temp
 * file beside it (same directory, so the rename is atomic). On any failure the live file is untouched.
 */
export async function writeConfigAtomically(file: string, text: string, validate: (tempFile: string) => Promise<void>): Promise<void> {
  const dir = path.dirname(file);
  await mkdir(dir, { recursive: true });
  const temp = path.join(dir, `.${path.basename(file)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    await writeFile(temp, text, { mode: 0o644 });
    await validate(temp);
    await rename(temp, file);
  } finally {
    await rm(temp, { force: true });
  }
}
