// The live config file's writer: validated writes one at a time, background writes where only the
// newest waiting text is written (and, given as a render, rendered) and reads see it at once, and a
// failed background write reported.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
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

  test('a background text given as a render is rendered once, and only while it is the newest: by a read, or by its write', async () => {
    const file = path.join(dir, 'c.cfg');
    const { writer, written, holdWith } = writerFor(file);
    const renders: string[] = [];
    const render = (text: string) => () => {
      renders.push(text);
      return text;
    };
    let release!: () => void;
    holdWith(new Promise<void>((r) => (release = r)));
    writer.writeSoon(render('one'));
    await delay(0); // its write began (rendering it) and waits on the hold
    writer.writeSoon(render('two'));
    writer.writeSoon(render('three'));
    writer.writeSoon(render('four'));
    assert.deepEqual(renders, ['one'], 'those waiting are not rendered yet');
    assert.equal(await writer.read(), 'four', 'a read renders the newest');
    holdWith(undefined);
    release();
    await writer.written();
    assert.deepEqual(renders, ['one', 'four'], '"two" and "three" never rendered; "four" rendered once');
    assert.deepEqual(written, ['one', 'four']);
    assert.equal(await readFile(file, 'utf8'), 'four');
  });

  test('a render that throws is reported once and never written: a read then gives the file on disk', async () => {
    const file = path.join(dir, 'd.cfg');
    const { writer, written, failures } = writerFor(file);
    await writer.write('kept');
    const broken = () => {
      throw new Error('the template broke');
    };
    writer.writeSoon(broken);
    assert.equal(await writer.read(), 'kept', 'read first: the render fails, the file stays');
    await writer.written();
    writer.writeSoon(broken);
    await writer.written();
    assert.deepEqual(failures, ['the template broke', 'the template broke'], 'once per text, by whichever came first');
    assert.deepEqual(written, ['kept']);
    assert.equal(await writer.read(), 'kept', 'nothing pending after the failure');
  });

  test('a background write waits for mayStart, unrendered; a direct write lets it go at once (its caller may hold what it waits for) and follows it', async () => {
    const file = path.join(dir, 'e.cfg');
    const written: string[] = [];
    let allow: (() => void) | undefined;
    const writer = new ConfigFileWriter(
      file,
      async (text) => {
        await writeConfigAtomically(file, text, async () => {});
        written.push(text);
      },
      (e) => assert.fail(e),
      () => new Promise<void>((resolve) => (allow = resolve)),
    );
    const renders: string[] = [];
    writer.writeSoon(() => {
      renders.push('one');
      return 'one';
    });
    await delay(20);
    assert.ok(allow, 'mayStart was asked');
    assert.deepEqual(renders, [], 'not rendered while held back');
    assert.deepEqual(written, []);
    allow();
    await writer.written();
    assert.deepEqual(written, ['one']);

    allow = undefined;
    writer.writeSoon('two');
    await delay(20);
    assert.ok(allow, 'held back again');
    // Never let go by mayStart here: without the direct write letting it go, this would wait for ever.
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error('the direct write waited for mayStart')), 5000)));
    await Promise.race([writer.write('three'), late]).finally(() => clearTimeout(timer));
    assert.deepEqual(written, ['one', 'two', 'three'], 'in order');
    assert.equal(await readFile(file, 'utf8'), 'three');
  });
});
