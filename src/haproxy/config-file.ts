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

/** A background write's text, rendered when first needed (by the write, or by a read before it). */
interface PendingText {
  render: () => string;
  text?: string;
}

/**
 * The live config file, written one validated text at a time. A background write (`writeSoon`) goes
 * after the one before it; only the newest text waiting is written, and `read` already returns it.
 * Its text may be given as a render, called only for the newest: steps that come faster than the file
 * is written and checked cost one render, not one each.
 */
export class ConfigFileWriter {
  /** What a background write has yet to put on disk; the newest only. */
  private pending: PendingText | undefined;
  private writing: Promise<void> = Promise.resolve();

  constructor(
    private readonly file: string,
    /** Writes the text once checked (and whatever must be in place first). */
    private readonly writeChecked: (text: string) => Promise<void>,
    /** A background write that failed (its render included): the caller's to report. */
    private readonly onBackgroundFailure: (e: Error) => void,
  ) {}

  /** The file as it is about to be: a pending background text, else what is on disk. */
  async read(): Promise<string | undefined> {
    const pending = this.pending;
    if (pending !== undefined) {
      try {
        return textOf(pending);
      } catch (e) {
        // Its render failed: it will never be written, so the file stays as it is on disk.
        if (this.pending === pending) this.pending = undefined;
        this.onBackgroundFailure(e as Error);
      }
    }
    return readConfigFile(this.file);
  }

  /** After any background write: this text, checked; rejects when it is not. */
  async write(text: string): Promise<void> {
    await this.writing;
    await this.writeChecked(text);
  }

  writeSoon(text: string | (() => string)): void {
    this.pending = typeof text === 'string' ? { render: () => text, text } : { render: text };
    // A run that finds nothing pending (the run before it wrote a newer text) returns at once.
    this.writing = this.writing.then(async () => {
      const pending = this.pending;
      if (pending === undefined) return;
      try {
        await this.writeChecked(textOf(pending));
      } catch (e) {
        this.onBackgroundFailure(e as Error);
      } finally {
        if (this.pending === pending) this.pending = undefined;
      }
    });
  }

  /** Resolves once no background write is pending. */
  written(): Promise<void> {
    return this.writing;
  }
}

function textOf(pending: PendingText): string {
  return (pending.text ??= pending.render());
}
