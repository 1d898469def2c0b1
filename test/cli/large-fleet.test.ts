/**
 * `status` and `clusters ls` on a fleet of 10,000 proxies (1,000 hosts,
 * 1,000 clusters of 16 nodes): paged listings and bounded parallel metas
 * give complete, exact answers. The times are printed, not asserted: they
 * depend on the machine and on what else runs on it.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startBroker } from '../helpers/broker-process.js';
import type { BrokerProcess } from '../helpers/broker-process.js';
import { apiOk, cli, largeFleet, loadDocument } from '../helpers/cli.js';
import type { CliResult } from '../helpers/cli.js';

let broker: BrokerProcess;

before(async () => {
  broker = await startBroker();
  await loadDocument(broker, largeFleet());
});

after(async () => {
  await broker.kill();
});

/** Runs the command line and prints how long it took, start of the process to its exit. */
async function timed(label: string, words: readonly string[]): Promise<CliResult> {
  const started = process.hrtime.bigint();
  const result = await cli(['--broker', broker.origin, ...words], { timeoutMs: 60_000 });
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  console.log(`10,000 proxies: metabroker ${label} took ${ms.toFixed(0)} ms`);
  assert.equal(result.code, 0, result.stderr);
  assert.equal(result.stderr, '');
  return result;
}

test('status on 10,000 proxies: every figure complete', { timeout: 120_000 }, async () => {
  const { stdout } = await timed('status', ['status']);
  const lines = stdout.split('\n');
  assert.deepEqual(lines.slice(1, 6), [
    'global epoch   100',
    'hosts          1000',
    'proxies        10000 total, 2000 free, 8000 in clusters, 0 failed, 0 reported',
    'clusters       1000 (16000 nodes, 0 migrations in flight)',
    'hosts at risk  none: the free proxies could absorb the loss of any one host',
  ]);
  assert.equal(lines[7], 'CLUSTER      EPOCH  NODES  MIGRATIONS  SLOTS PER MASTER');
  assert.equal(lines[8], 'cluster0000    100     16           0  ████████ 2048 each');
  assert.equal(lines[1007], 'cluster0999    100     16           0  ████████ 2048 each');
  assert.equal(lines.length, 1009);

  const json = JSON.parse((await timed('status -o json', ['status', '-o', 'json'])).stdout) as {
    cluster_list: { name: string }[];
  };
  assert.deepEqual(
    json.cluster_list.map((c) => c.name),
    (JSON.parse(await apiOk(broker, 'GET', '/clusters/names')) as { names: string[] }).names,
  );
});

test(
  'clusters ls on 10,000 proxies: 1,000 lines; -o json is the unpaged listing exactly',
  { timeout: 120_000 },
  async () => {
    const { stdout } = await timed('clusters ls', ['clusters', 'ls']);
    const lines = stdout.trimEnd().split('\n');
    assert.equal(lines.length, 1001);
    assert.equal(lines[1], 'cluster0000    100     16           0  ████████ 2048 each');
    assert.equal(lines[1000], 'cluster0999    100     16           0  ████████ 2048 each');

    // 1,000 names fill exactly one page of the CLI's paging; 10,000 addresses take ten.
    assert.equal(
      (await timed('clusters ls -o json', ['clusters', 'ls', '-o', 'json'])).stdout,
      `${await apiOk(broker, 'GET', '/clusters/names')}\n`,
    );
    assert.equal(
      (await timed('proxies ls -o json', ['proxies', 'ls', '-o', 'json'])).stdout,
      `${await apiOk(broker, 'GET', '/proxies/addresses')}\n`,
    );
  },
);
