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
 * is written and checked cost one render, not one each. `mayStart` holds a background write back
 * until it resolves (the driver: until no change holds or waits for its lock, so that a render of
 * thousands of Servers never runs ahead of a change waiting to be made); a direct write lets it go at once.
 */
export class ConfigFileWriter {
  /** What a background write has yet to put on disk; the newest only. */
  private pending: PendingText | undefined;
  /** Every write, background and direct, in turn. */
  private writing: Promise<void> = Promise.resolve();
  /** Direct writes queued: a background write before them does not wait for `mayStart` (their caller may hold what it waits for). */
  private direct = 0;
  /** Lets the background write waiting for `mayStart` go now. */
  private letGo: (() => void) | undefined;

  constructor(
    private readonly file: string,
    /** Writes the text once checked (and whatever must be in place first). */
    private readonly writeChecked: (text: string) => Promise<void>,
    /** A background write that failed (its render included): the caller's to report. */
    private readonly onBackgroundFailure: (e: Error) => void,
    private readonly mayStart?: () => Promise<void>,
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

  /** After the writes before it: this text, checked; rejects when it is not. */
  write(text: string): Promise<void> {
    this.direct++;
    this.letGo?.();
    const run = this.writing.then(() => {
      this.direct--;
      return this.writeChecked(text);
    });
    this.writing = run.catch(() => undefined);
    return run;
  }

  writeSoon(text: string | (() => string)): void {
    this.pending = typeof text === 'string' ? { render: () => text, text } : { render: text };
    // A run that finds nothing pending (the run before it wrote a newer text) returns at once.
    this.writing = this.writing.then(async () => {
      if (this.pending === undefined) return;
      const held = this.heldBack();
      if (held) await held;
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

  /** What a background write waits for before it starts, if anything (none: it starts in this very turn). */
  private heldBack(): Promise<void> | undefined {
    if (this.mayStart === undefined || this.direct > 0) return undefined;
    return new Promise<void>((resolve) => {
      this.letGo = resolve;
      this.mayStart!().then(resolve, resolve);
    }).finally(() => (this.letGo = undefined));
  }

  /** Resolves once no write is pending. */
  written(): Promise<void> {
    return this.writing;
  }
}

function textOf(pending: PendingText): string {
  return (pending.text ??= pending.render());
}
