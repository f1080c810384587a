// The live config file's writer: validated writes one at a time, background writes where only the
// newest waiting text is written and reads see it at once, and a failed background write reported.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ConfigFileWriter, writeConfigAtomically } from '../src/haproxy/config-file.js';

describe('ConfigFileWriter', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'rtmp-proxy-config-file-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  /** A writer whose check refuses texts containing "bad", and which can be held mid-write. */
  const writerFor = (file: string) => {
    const written: string[] = [];
    const failures: string[] = [];
    let hold: Promise<void> | undefined;
    const writer = new ConfigFileWriter(
      file,
      async (text) => {
        await hold;
        await writeConfigAtomically(file, text, async () => {
          if (text.includes('bad')) throw new Error(`refused: ${text}`);
        });
        written.push(text);
      },
      (e) => failures.push(e.message),
    );
    return { writer, written, failures, holdWith: (p: Promise<void> | undefined) => (hold = p) };
  };

  test('background writes: reads see the newest text at once; texts that waited behind a write are skipped for the newest', async () => {
    const file = path.join(dir, 'a.cfg');
    const { writer, written, holdWith } = writerFor(file);
    assert.equal(await writer.read(), undefined, 'no file yet');
    let release!: () => void;
    holdWith(new Promise<void>((r) => (release = r)));
    writer.writeSoon('one');
    assert.equal(await writer.read(), 'one');
    writer.writeSoon('two');
    writer.writeSoon('three');
    assert.equal(await writer.read(), 'three', 'the file as it is about to be');
    holdWith(undefined);
    release();
    await writer.written();
    assert.deepEqual(written, ['one', 'three'], '"two" was overtaken while "one" was being written');
    assert.equal(await readFile(file, 'utf8'), 'three');
    assert.equal(await writer.read(), 'three');
  });

  test('a direct write waits for the background ones and rejects when refused; a refused background write is reported and the file kept', async () => {
    const file = path.join(dir, 'b.cfg');
    const { writer, written, failures } = writerFor(file);
    writer.writeSoon('first');
    await writer.write('second');
    assert.deepEqual(written, ['first', 'second'], 'in order');
    await assert.rejects(writer.write('bad direct'), /refused: bad direct/);
    writer.writeSoon('bad background');
    await writer.written();
    assert.deepEqual(failures, ['refused: bad background']);
    assert.equal(await readFile(file, 'utf8'), 'second', 'the file is never replaced by a refused text');
    assert.equal(await writer.read(), 'second', 'nothing pending after the failure');
  });
});
