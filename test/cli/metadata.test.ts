/**
 * `metabroker metadata backup|restore` against a real broker: the file is
 * the API body byte for byte; restore checks the file with the broker's own
 * code before sending, shows the change, and asks on a terminal.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import type { ChunkStore, MetaDocument } from '../../src/domain/types.js';
import { tempDir } from '../helpers/broker-process.js';
import { deadAddress } from '../helpers/ports.js';
import {
  apiOk,
  cli,
  cliOk,
  largeFleet,
  loadDocument,
  oneClusterFleet,
  startCliInTerminal,
  useFileBroker,
} from '../helpers/cli.js';
import { cloneDocument } from '../helpers/documents.js';

const target = useFileBroker();
const args = target.args;

function file(name: string): string {
  return join(tempDir('metabroker-cli-'), name);
}

/** PUT /metadata requests the broker has answered so far, from its own metrics. */
async function metadataPuts(): Promise<number> {
  const text = await apiOk(target.broker, 'GET', '/metrics');
  let total = 0;
  for (const line of text.split('\n')) {
    if (
      line.startsWith('http_requests_total{') &&
      line.includes('route="/api/v2/metadata"') &&
      line.includes('method="PUT"')
    ) {
      total += Number(line.slice(line.lastIndexOf(' ') + 1));
    }
  }
  return total;
}

/**
 * From oneCluster: c2 created, 127.0.0.4:7001 registered, 127.0.0.1:7004
 * removed, 127.0.0.3:7004 failed, c1's config changed.
 */
async function changeEverything(): Promise<void> {
  await apiOk(target.broker, 'POST', '/clusters/meta/c2', { node_number: 4 });
  await apiOk(target.broker, 'POST', '/proxies/meta', { proxy_address: '127.0.0.4:7001', nodes: ['a', 'b'] });
  await apiOk(target.broker, 'DELETE', '/proxies/meta/127.0.0.1:7004');
  await apiOk(target.broker, 'POST', '/proxies/failover/127.0.0.3:7004');
  await apiOk(target.broker, 'PATCH', '/clusters/config/c1', { compression_strategy: 'allow_all' });
}

const RESTORE_DIFF = (path: string) =>
  [
    `restore ${path} onto ${target.broker.origin}`,
    'global epoch    15 -> 10',
    'clusters        0 added, 1 removed, 1 changed',
    '                - c2',
    '                ~ c1',
    'proxies         1 added, 1 removed, 2 changed',
    '                + 127.0.0.1:7004',
    '                - 127.0.0.4:7001',
    '                ~ 127.0.0.2:7002',
    '                ~ 127.0.0.3:7002',
    'failed proxies  1 -> 0',
    'reported        0 (unchanged)',
    'warning: the global epoch goes back; proxies that saw 15 may ignore the restored metadata ' +
      'until `metabroker epoch bump` sets an epoch above 15',
  ].join('\n');

test('metadata backup: the file is GET /metadata byte for byte; -o json summarises; - writes to stdout', async () => {
  await loadDocument(target.broker, oneClusterFleet());
  const path = file('backup.json');
  const body = await apiOk(target.broker, 'GET', '/metadata');
  assert.equal(
    await cliOk(args('metadata', 'backup', path)),
    `backed up the metadata of ${target.broker.origin} to ${path}: ` +
      `global epoch 10, 1 cluster, 12 proxies, ${Buffer.byteLength(body)} bytes\n`,
  );
  assert.equal(readFileSync(path, 'utf8'), body);
  assert.deepEqual(JSON.parse(await cliOk(args('-o', 'json', 'metadata', 'backup', path))), {
    file: path,
    bytes: Buffer.byteLength(body),
    global_epoch: 10,
    clusters: 1,
    proxies: 12,
  });
  assert.equal(await cliOk(args('metadata', 'backup', '-')), body);
  const unwritable = await cli(args('metadata', 'backup', join(path, 'inside-a-file')));
  assert.equal(unwritable.code, 2);
  assert.match(unwritable.stderr, /^error: cannot write .*inside-a-file: /);
});

test('metadata restore --yes: shows the change, replaces the metadata; -o json reports the diff', async () => {
  await loadDocument(target.broker, oneClusterFleet());
  const path = file('state.json');
  await cliOk(args('metadata', 'backup', path));
  await changeEverything();
  assert.equal(
    await cliOk(args('metadata', 'restore', path, '--yes')),
    `${RESTORE_DIFF(path)}\nrestored: the broker now holds global epoch 10, 1 cluster, 12 proxies\n`,
  );
  assert.equal(await apiOk(target.broker, 'GET', '/metadata'), readFileSync(path, 'utf8'));

  await changeEverything();
  const report = JSON.parse(await cliOk(args('-o', 'json', 'metadata', 'restore', path, '--yes'))) as Record<
    string,
    unknown
  >;
  assert.deepEqual(report, {
    file: path,
    broker: target.broker.origin,
    diff: {
      global_epoch: { before: 15, after: 10 },
      clusters: { added: [], removed: ['c2'], changed: ['c1'] },
      proxies: {
        added: ['127.0.0.1:7004'],
        removed: ['127.0.0.4:7001'],
        changed: ['127.0.0.2:7002', '127.0.0.3:7002'],
      },
      failed_proxies: { before: 1, after: 0 },
      reported: { before: 0, after: 0 },
      identical: false,
    },
    applied: true,
  });
});

test('metadata restore of what the broker holds already: nothing is sent', async () => {
  await loadDocument(target.broker, oneClusterFleet());
  const path = file('same.json');
  await cliOk(args('metadata', 'backup', path));
  const puts = await metadataPuts();
  assert.equal(
    await cliOk(args('metadata', 'restore', path)),
    `restore ${path} onto ${target.broker.origin}\nthe broker already holds exactly this metadata\n`,
  );
  assert.equal(await metadataPuts(), puts);
});

test('metadata restore without a terminal and without --yes: exit 2, nothing changes', async () => {
  await loadDocument(target.broker, oneClusterFleet());
  const path = file('state.json');
  await cliOk(args('metadata', 'backup', path));
  await changeEverything();
  const before = await apiOk(target.broker, 'GET', '/metadata');
  const r = await cli(args('metadata', 'restore', path), { input: 'y\n' });
  assert.equal(r.code, 2);
  assert.equal(r.stdout, `${RESTORE_DIFF(path)}\n`);
  assert.equal(r.stderr, 'error: restore replaces all of the metadata: confirm on a terminal, or pass --yes\n');
  assert.equal(await apiOk(target.broker, 'GET', '/metadata'), before);
});

/** Runs restore in a terminal, answers the prompt, returns the exit status and what the terminal showed. */
async function restoreInTerminal(path: string, answer: string): Promise<{ code: number | null; screen: string }> {
  const restore = startCliInTerminal(args('metadata', 'restore', path));
  await restore.waitFor((screen) => screen.includes('[y/N] '), 'the confirmation prompt');
  restore.write(`${answer}\n`);
  const result = await restore.exited;
  return { code: result.code, screen: result.stdout.replace(/\r\n/g, '\n') };
}

test('metadata restore in a terminal: "n" cancels (exit 1, nothing changes), "y" restores', async () => {
  await loadDocument(target.broker, oneClusterFleet());
  const path = file('state.json');
  await cliOk(args('metadata', 'backup', path));
  await changeEverything();
  const before = await apiOk(target.broker, 'GET', '/metadata');
  const question = `Replace the metadata of ${target.broker.origin} with ${path}? [y/N] `;

  const no = await restoreInTerminal(path, 'n');
  assert.equal(no.code, 1, no.screen);
  assert.equal(no.screen, `${RESTORE_DIFF(path)}\n${question}n\nrestore cancelled; nothing was changed\n`);
  assert.equal(await apiOk(target.broker, 'GET', '/metadata'), before);

  const yes = await restoreInTerminal(path, 'y');
  assert.equal(yes.code, 0, yes.screen);
  assert.equal(
    yes.screen,
    `${RESTORE_DIFF(path)}\n${question}y\nrestored: the broker now holds global epoch 10, 1 cluster, 12 proxies\n`,
  );
  assert.equal(await apiOk(target.broker, 'GET', '/metadata'), readFileSync(path, 'utf8'));
});

/** Files the broker refuses, each with what the broker says when it is sent anyway. */
function refusedFiles(): { name: string; text: string; code: string }[] {
  const base = oneClusterFleet();
  const epochBeyond = cloneDocument(base);
  epochBeyond.clusters.c1 = { ...epochBeyond.clusters.c1!, epoch: 11 };
  const slotTwice = cloneDocument(base);
  const c1 = slotTwice.clusters.c1!;
  const [first, second] = c1.chunks as [ChunkStore, ChunkStore];
  slotTwice.clusters.c1 = {
    ...c1,
    chunks: [first, { ...second, stable_slots: [{ range_list: [[0, 12287]], tag: 'None' }, second.stable_slots[1]] }],
  };
  const missingField = cloneDocument(base) as unknown as Record<string, unknown>;
  delete missingField.failed_proxies;
  const otherVersion = { ...cloneDocument(base), version: 'mem-broker-9' };
  return [
    { name: 'a cluster epoch beyond the global epoch', text: JSON.stringify(epochBeyond), code: 'INVALID_REQUEST' },
    { name: 'a slot owned twice', text: JSON.stringify(slotTwice), code: 'INVALID_REQUEST' },
    { name: 'a missing field', text: JSON.stringify(missingField), code: 'INVALID_REQUEST' },
    { name: 'malformed JSON', text: '{"version": "mem-broker-0.1",', code: 'INVALID_REQUEST' },
    { name: 'another version', text: JSON.stringify(otherVersion), code: 'INVALID_META_VERSION' },
  ];
}

for (const bad of refusedFiles()) {
  test(`metadata restore refuses ${bad.name} here, with the broker's words, before any PUT`, async () => {
    await loadDocument(target.broker, oneClusterFleet());
    const path = file('bad.json');
    writeFileSync(path, bad.text);
    const puts = await metadataPuts();
    const r = await cli(args('metadata', 'restore', path, '--yes'));
    assert.equal(r.code, 1, r.stderr);
    assert.equal(r.stdout, '');
    assert.equal(await metadataPuts(), puts, 'the broker received no PUT /metadata');

    // The broker's own answer to the same bytes: the same code and the same words.
    const answer = await target.broker.call('PUT', '/metadata', bad.text);
    const refusal = answer.json<{ error: string; message?: string }>();
    assert.equal(refusal.error, bad.code);
    const [first, ...rest] = r.stderr.trimEnd().split('\n');
    assert.ok(first!.startsWith(`error: ${bad.code}: `), r.stderr);
    assert.ok(
      first!.endsWith(`(refused by the broker's own checks, run here before sending; checking ${path})`),
      r.stderr,
    );
    if (bad.code === 'INVALID_REQUEST') assert.equal(rest[0], `  broker says: ${refusal.message ?? '(no message)'}`);
    else assert.equal(rest.length, 1, 'only INVALID_REQUEST carries words of its own');
    assert.ok(rest.at(-1)!.startsWith('what to do: '), r.stderr);

    // With no broker at all, the refusal is the same: nothing needed to be contacted.
    const offline = await cli(['--broker', `http://${deadAddress()}`, 'metadata', 'restore', path, '--yes']);
    assert.deepEqual([offline.code, offline.stderr], [1, r.stderr]);
  });
}

test('metadata restore of a large document in a terminal shows progress bars', { timeout: 120_000 }, async () => {
  await loadDocument(target.broker, oneClusterFleet());
  const path = file('large.json');
  writeFileSync(path, JSON.stringify(largeFleet()));
  const terminal = startCliInTerminal(args('metadata', 'restore', path, '--yes'), { timeoutMs: 90_000 });
  const result = await terminal.exited;
  assert.equal(result.code, 0, result.stdout);
  assert.match(result.stdout, /restore \[█+\] 100% \| (\d+) KiB of \1 KiB/);
  assert.ok(
    result.stdout.includes('restored: the broker now holds global epoch 100, 1000 clusters, 10000 proxies'),
    result.stdout.slice(-500),
  );
  assert.equal((JSON.parse(await apiOk(target.broker, 'GET', '/metadata')) as MetaDocument).global_epoch, 100);

  // Reading a large current document shows its own bar; without a terminal there is none.
  const again = startCliInTerminal(args('metadata', 'backup', file('large-backup.json')), { timeoutMs: 90_000 });
  assert.match((await again.exited).stdout, /backup {2}\[█+\] 100% \| (\d+) KiB of \1 KiB/);
  const piped = await cli(args('metadata', 'backup', file('large-backup-2.json')));
  assert.equal(piped.code, 0);
  assert.equal(piped.stderr, '', 'no bar when stderr is not a terminal');
});
