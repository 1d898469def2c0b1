import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { META_VERSION } from '../../src/domain/constants.js';
import type { MetaDocument } from '../../src/domain/types.js';
import { loadMetaFile, MetaFileError, removeStaleTempFiles, writeMetaFileSync } from '../../src/persistence.js';

const root = mkdtempSync(join(tmpdir(), 'metabroker-persist-'));
after(() => {
  chmodSync(root, 0o700);
  rmSync(root, { recursive: true, force: true });
});

let dirCount = 0;
function freshDir(): string {
  const dir = join(root, `d${++dirCount}`);
  mkdirSync(dir);
  return dir;
}

function documentWithEpoch(epoch: number): MetaDocument {
  return {
    version: META_VERSION,
    global_epoch: epoch,
    clusters: {},
    all_proxies: {
      '127.0.0.1:6000': {
        proxy_address: '127.0.0.1:6000',
        node_addresses: ['127.0.0.1:7000', '127.0.0.1:7001'],
        host: '127.0.0.1',
        cluster: null,
      },
    },
    failed_proxies: ['127.0.0.1:6001'],
    failures: { '127.0.0.1:6001': { coordinator1: 1700000000 } },
  } as unknown as MetaDocument;
}

function metaFileError(fn: () => unknown): MetaFileError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof MetaFileError, `expected MetaFileError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected a MetaFileError');
}

test('writeMetaFileSync: round trip through loadMetaFile, leaving no temporary file', () => {
  const dir = freshDir();
  const path = join(dir, 'metadata');
  writeMetaFileSync(path, JSON.stringify(documentWithEpoch(3)));
  assert.deepEqual(loadMetaFile(path), documentWithEpoch(3));
  writeMetaFileSync(path, JSON.stringify(documentWithEpoch(4)));
  assert.deepEqual(loadMetaFile(path), documentWithEpoch(4), 'a second write replaces the file');
  assert.deepEqual(readdirSync(dir), ['metadata']);
});

test('writeMetaFileSync: a missing directory throws, naming the file', () => {
  const path = join(root, 'no-such-dir', 'metadata');
  const err = metaFileError(() => writeMetaFileSync(path, '{}'));
  assert.ok(err.message.includes(path));
  assert.equal(err.code, 'ENOENT');
  assert.equal(loadMetaFile(path), null);
});

test('writeMetaFileSync: a failed rename removes the temporary file and leaves the target alone', () => {
  const dir = freshDir();
  // A non-empty directory where the file should be: the temp file is written, then the rename fails.
  const path = join(dir, 'metadata');
  mkdirSync(path);
  writeFileSync(join(path, 'keep'), 'x');
  const err = metaFileError(() => writeMetaFileSync(path, JSON.stringify(documentWithEpoch(1))));
  assert.ok(err.message.includes(path));
  assert.deepEqual(readdirSync(dir), ['metadata'], 'no temporary file is left behind');
  assert.deepEqual(readdirSync(path), ['keep']);
});

test('writeMetaFileSync: an unwritable directory throws and the old file stays intact', () => {
  const dir = freshDir();
  const path = join(dir, 'metadata');
  const old = JSON.stringify(documentWithEpoch(7));
  writeFileSync(path, old);
  // Root ignores permission bits, so the child drops to "nobody" after loading
  // the module; a non-root runner is stopped by the mode alone.
  chmodSync(root, 0o755);
  chmodSync(dir, 0o555);
  const moduleUrl = new URL('../../src/persistence.js', import.meta.url).href;
  const script = `
    const { writeMetaFileSync } = await import(${JSON.stringify(moduleUrl)});
    if (process.getuid() === 0) { process.setgid(65534); process.setuid(65534); }
    try { writeMetaFileSync(${JSON.stringify(path)}, '{"new":true}'); console.log(JSON.stringify({ threw: false })); }
    catch (err) { console.log(JSON.stringify({ threw: true, name: err.name, message: err.message, code: err.code })); }
  `;
  let out: string;
  try {
    out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
  } finally {
    chmodSync(dir, 0o755);
    chmodSync(root, 0o700);
  }
  const result = JSON.parse(out) as { threw: boolean; name?: string; message?: string; code?: string };
  assert.equal(result.threw, true, 'the write must fail');
  assert.equal(result.name, 'MetaFileError');
  assert.equal(result.code, 'EACCES');
  assert.ok(result.message?.includes(path));
  assert.equal(readFileSync(path, 'utf8'), old);
  assert.deepEqual(readdirSync(dir), ['metadata']);
});

test('removeStaleTempFiles: removes the temporary files of dead processes only, and only for this file', () => {
  const dir = freshDir();
  const path = join(dir, 'metadata');
  writeFileSync(path, '{}');
  // A pid above pid_max belongs to no process; this process is alive.
  const dead = '.metadata.tmp-4194305-1-1';
  const alive = `.metadata.tmp-${process.pid}-1-1`;
  const other = '.other.tmp-4194305-1-1';
  for (const name of [dead, alive, other]) writeFileSync(join(dir, name), 'partial');
  assert.deepEqual(removeStaleTempFiles(path), [dead]);
  assert.deepEqual(readdirSync(dir).sort(), [alive, other, 'metadata'].sort());
  assert.deepEqual(
    removeStaleTempFiles(join(freshDir(), 'no-such-dir', 'metadata')),
    [],
    'a missing directory is not an error',
  );
});

test('loadMetaFile: null when the file does not exist', () => {
  assert.equal(loadMetaFile(join(freshDir(), 'metadata')), null);
});

test('loadMetaFile: corrupt files and other versions throw clear errors and are left unchanged', () => {
  const cases: { name: string; content: string | Buffer; message: RegExp }[] = [
    { name: 'empty', content: '', message: /is corrupt \(0 bytes, not valid JSON/ },
    {
      name: 'truncated',
      content: JSON.stringify(documentWithEpoch(2)).slice(0, 40),
      message: /is corrupt .*not valid JSON/,
    },
    { name: 'not utf-8', content: Buffer.from([0x7b, 0xff, 0x7d]), message: /is corrupt \(3 bytes, not valid UTF-8\)/ },
    { name: 'array', content: '[]', message: /does not hold a JSON object/ },
    {
      name: 'other version',
      content: JSON.stringify({ ...documentWithEpoch(2), version: 'mem-broker-0.2' }),
      message: /has version "mem-broker-0.2"; this broker reads only "mem-broker-0.1"/,
    },
    { name: 'no version', content: '{"global_epoch": 1}', message: /has version undefined/ },
    {
      name: 'bad epoch',
      content: JSON.stringify({ ...documentWithEpoch(2), global_epoch: -1 }),
      message: /"global_epoch" is not a non-negative integer/,
    },
    {
      name: 'bad proxies',
      content: JSON.stringify({ ...documentWithEpoch(2), all_proxies: [] }),
      message: /"all_proxies" is not an object/,
    },
    {
      name: 'bad failures',
      content: JSON.stringify({ ...documentWithEpoch(2), failures: { a: { r: 'x' } } }),
      message: /"failures" entry "a"/,
    },
  ];
  const dir = freshDir();
  for (const c of cases) {
    const path = join(dir, c.name);
    writeFileSync(path, c.content);
    const before = statSync(path);
    const bytes = readFileSync(path);
    const err = metaFileError(() => loadMetaFile(path));
    assert.match(err.message, c.message, c.name);
    assert.ok(err.message.includes(path), `${c.name}: the message names the file`);
    assert.deepEqual(readFileSync(path), bytes, `${c.name}: content unchanged`);
    assert.equal(statSync(path).mtimeMs, before.mtimeMs, `${c.name}: not rewritten`);
  }
});

test('loadMetaFile: an unreadable path (a directory) throws, naming it', () => {
  const dir = freshDir();
  const err = metaFileError(() => loadMetaFile(dir));
  assert.match(err.message, /cannot read metadata file/);
  assert.ok(err.message.includes(dir));
});
