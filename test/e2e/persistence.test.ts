/**
 * The metadata file and the owner's timers, against a real broker process:
 * a write the file cannot take is refused and rolled back; the periodic
 * file write happens on its own; expired failure reports go on their own.
 * Every wait is on the event itself (the file, the answer), with a deadline.
 */
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { pollUntil, proxyBody, startBroker, tempDir } from '../helpers/broker-process.js';
import type { BrokerProcess } from '../helpers/broker-process.js';

/** The value of an unlabelled Prometheus sample, or undefined. */
function sample(exposition: string, name: string): number | undefined {
  const line = exposition.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.slice(name.length + 1));
}

async function generation(broker: BrokerProcess): Promise<number> {
  const answer = await broker.call('GET', '/metrics');
  assert.equal(answer.status, 200, answer.text);
  const value = sample(answer.text, 'snapshot_generation');
  assert.ok(value !== undefined, `snapshot_generation in ${answer.text.slice(0, 400)}`);
  return value;
}

async function metadataText(broker: BrokerProcess): Promise<string> {
  const answer = await broker.call('GET', '/metadata');
  assert.equal(answer.status, 200, answer.text);
  return answer.text;
}

/** The file's text, or undefined while it does not exist (or is mid-replace). */
function readIfThere(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

const PERSISTENCE_FAILURE =
  'auto_update_meta_file: a write the file cannot take answers 500 PERSISTENCE_IO_ERROR and changes nothing; ' +
  'once the path is fixed, writes go on';

test(PERSISTENCE_FAILURE, { timeout: 60_000 }, async (t) => {
  const dir = tempDir();
  const stateDir = join(dir, 'state');
  mkdirSync(stateDir);
  const metaFile = join(stateDir, 'metadata');
  const env = { UNDERMOON_AUTO_UPDATE_META_FILE: 'true', UNDERMOON_META_FILENAME: metaFile };
  const broker = await startBroker({ env });
  t.after(() => broker.kill());

  for (const [host, i] of [
    [1, 1],
    [1, 2],
    [2, 1],
    [2, 2],
  ] as const) {
    assert.equal((await broker.call('POST', '/proxies/meta', proxyBody(host, i))).status, 200);
  }
  const created = await broker.call('POST', '/clusters/meta/db', { node_number: 4 });
  assert.equal(created.status, 200, created.text);
  const onDisk = readFileSync(metaFile, 'utf8');
  assert.deepEqual(JSON.parse(onDisk), JSON.parse(await metadataText(broker)), 'every answered write is on disk');

  // The file's folder becomes a regular file: no write below it can succeed, even as root.
  rmSync(stateDir, { recursive: true });
  writeFileSync(stateDir, 'not a folder');
  const before = await metadataText(broker);
  const generationBefore = await generation(broker);
  const document = JSON.parse(before) as { global_epoch: number };
  const refusedWrites: [string, string, unknown][] = [
    ['POST', '/proxies/meta', proxyBody(3, 1)],
    ['POST', '/clusters/meta/other', { node_number: 4 }],
    ['DELETE', '/clusters/meta/db', undefined],
    ['PATCH', '/clusters/config/db', { compression_strategy: 'allow_all' }],
    ['POST', `/failures/${proxyBody(1, 1).proxy_address}/r1`, undefined],
    ['PUT', `/epoch/${document.global_epoch + 10}`, undefined],
    ['PUT', '/metadata', { ...JSON.parse(before), global_epoch: document.global_epoch + 20 }],
  ];
  for (const [method, path, body] of refusedWrites) {
    const answer = await broker.call(method, path, body);
    assert.equal(answer.status, 500, `${method} ${path}: ${answer.status} ${answer.text}`);
    assert.equal(answer.json<{ error: string }>().error, 'PERSISTENCE_IO_ERROR', `${method} ${path}`);
    assert.equal(await metadataText(broker), before, `${method} ${path}: GET /metadata is unchanged, byte for byte`);
    assert.equal(await generation(broker), generationBefore, `${method} ${path}: nothing was published`);
  }
  const rolledBack = broker.logs.filter((l) => l.msg === 'change not committed; rolled back');
  assert.equal(rolledBack.length, refusedWrites.length, broker.describe());
  assert.ok(rolledBack.every((l) => l.level === 'error' && l.code === 'PERSISTENCE_IO_ERROR'));
  assert.equal(readFileSync(stateDir, 'utf8'), 'not a folder', 'nothing was written in its place');

  // Fixed: the same write now succeeds, is published, and is on disk.
  rmSync(stateDir);
  mkdirSync(stateDir);
  const [method, path, body] = refusedWrites[0]!;
  const answer = await broker.call(method, path, body);
  assert.equal(answer.status, 200, answer.text);
  const after = await metadataText(broker);
  assert.notEqual(after, before);
  assert.ok(Object.hasOwn((JSON.parse(after) as { all_proxies: object }).all_proxies, proxyBody(3, 1).proxy_address));
  assert.equal(await generation(broker), generationBefore + 1);
  assert.deepEqual(JSON.parse(readFileSync(metaFile, 'utf8')), JSON.parse(after));
  assert.deepEqual(await broker.stop(), { code: 0, signal: null }, broker.describe());
});

const PERIODIC = 'update_meta_file_interval: the file is written on the timer, with no write request behind it';

test(PERIODIC, { timeout: 60_000 }, async (t) => {
  const metaFile = join(tempDir(), 'metadata');
  const env = { UNDERMOON_UPDATE_META_FILE_INTERVAL: '1', UNDERMOON_META_FILENAME: metaFile };
  const broker = await startBroker({ env });
  t.after(() => broker.kill());

  // No request at all: the empty store appears on disk.
  const first = await pollUntil(async () => readIfThere(metaFile), 10_000, 'the metadata file appears', 50);
  assert.deepEqual(JSON.parse(first), JSON.parse(await metadataText(broker)));
  const firstStat = statSync(metaFile);

  // A write is answered from memory (auto_update_meta_file is off); the timer carries it to disk.
  assert.equal((await broker.call('POST', '/proxies/meta', proxyBody(1, 1))).status, 200);
  const expected = JSON.parse(await metadataText(broker)) as unknown;
  await pollUntil(
    async () => {
      const text = readIfThere(metaFile);
      return text !== undefined && JSON.stringify(JSON.parse(text)) === JSON.stringify(expected) ? true : undefined;
    },
    10_000,
    'the write reaches the file',
    50,
  );

  // And again with nothing changed and no request: the file is replaced anew.
  const seen = statSync(metaFile);
  assert.ok(seen.mtimeMs >= firstStat.mtimeMs);
  await pollUntil(
    async () => {
      const now = statSync(metaFile, { throwIfNoEntry: false });
      return now !== undefined && (now.ino !== seen.ino || now.mtimeMs !== seen.mtimeMs) ? true : undefined;
    },
    10_000,
    'the periodic write replaces the file again',
    50,
  );
  assert.deepEqual(JSON.parse(readFileSync(metaFile, 'utf8')), expected);
  assert.equal(broker.logs.filter((l) => l.level === 'error').length, 0, broker.describe());
});

const EXPIRY = 'failure_ttl=1: a report disappears from GET /failures and GET /metadata on its own';

test(EXPIRY, { timeout: 60_000 }, async (t) => {
  const broker = await startBroker({ env: { UNDERMOON_FAILURE_TTL: '1', UNDERMOON_FAILURE_QUORUM: '1' } });
  t.after(() => broker.kill());
  const address = proxyBody(1, 1).proxy_address;
  assert.equal((await broker.call('POST', '/proxies/meta', proxyBody(1, 1))).status, 200);

  const listed = async () => {
    const answer = await broker.call('GET', '/failures');
    return answer.json<{ addresses: string[] }>().addresses.includes(address);
  };
  const stored = async () =>
    Object.hasOwn((JSON.parse(await metadataText(broker)) as { failures: object }).failures, address);
  // A one-second report can expire before it is read back; report again until both reads have seen it.
  await pollUntil(
    async () => {
      assert.equal((await broker.call('POST', `/failures/${address}/r1`)).status, 200);
      return (await listed()) && (await stored()) ? true : undefined;
    },
    10_000,
    'the report is seen by GET /failures and GET /metadata',
    0,
  );
  // No more requests but reads: the owner's timer forgets the report.
  const gone = async () => (!(await listed()) && !(await stored()) ? true : undefined);
  await pollUntil(gone, 10_000, 'the report expires', 100);
  assert.equal(broker.logs.filter((l) => l.level === 'error').length, 0, broker.describe());
});
