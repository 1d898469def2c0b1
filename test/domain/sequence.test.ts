/**
 * Random command sequences on small fleets. After every step the store is
 * consistent, a success raised the epoch (and stamped the clusters it
 * changed), and a failure changed nothing, apart from the two documented
 * exceptions (docs/api.md#a-failed-request-changes-nothing), whose kept changes are checked precisely.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { applyCommand } from '../../src/domain/commands.js';
import type { Command, CommandContext } from '../../src/domain/commands.js';
import { hostsThatCannotFail } from '../../src/domain/resource.js';
import type { MutableStore } from '../../src/domain/types.js';
import { getProxyView } from '../../src/domain/views.js';
import { opArb, toCommand } from '../fixtures/commands.js';
import { CTX, must, storeWithProxies } from '../fixtures/stores.js';
import { assertConsistent, documentOf, snapshot } from '../helpers/invariants.js';

/** Applies one step with every check; answers `kind:ok` or `kind:CODE`. */
function checkStep(store: MutableStore, cmd: Command, ctx: CommandContext): string {
  const before = snapshot(store);
  const beforeDoc = documentOf(store);
  const outcome = applyCommand(store, cmd, ctx);
  assertConsistent(store);
  for (const address of store.proxies.keys()) {
    const view = getProxyView(store, address, ctx.migrationLimit)!;
    assert.equal(view.nodes.length + view.free_nodes.length, 2, `proxy ${address} shows its two nodes`);
  }
  const after = documentOf(store);

  if (outcome.ok && cmd.kind === 'addFailure' && beforeDoc.all_proxies[cmd.address] === undefined) {
    // A report on an address that is not a registered proxy is answered but not stored.
    assert.deepEqual(after, beforeDoc);
    assert.equal(outcome.changes, null);
    return 'addFailure:unknown';
  }
  if (outcome.ok) {
    assert.ok(after.global_epoch > beforeDoc.global_epoch, `${cmd.kind} succeeded without raising the epoch`);
    for (const [clusterName, cluster] of Object.entries(after.clusters)) {
      if (JSON.stringify(cluster) !== JSON.stringify(beforeDoc.clusters[clusterName])) {
        assert.equal(
          cluster.epoch,
          after.global_epoch,
          `${cmd.kind} changed ${clusterName} without stamping the new epoch`,
        );
      }
    }
    return `${cmd.kind}:ok`;
  }

  const code = outcome.error.code;
  if (cmd.kind === 'addProxy' && code === 'ALREADY_EXISTED') {
    // Recovery: out of failed_proxies and failures, one epoch up, nothing else.
    const expected = {
      ...beforeDoc,
      global_epoch: beforeDoc.global_epoch + 1,
      failed_proxies: beforeDoc.failed_proxies.filter((a) => a !== cmd.proxy_address),
    };
    delete expected.failures[cmd.proxy_address];
    assert.deepEqual(after, expected);
    return `${cmd.kind}:${code}`;
  }
  if (cmd.kind === 'failover' && code === 'NO_AVAILABLE_RESOURCE') {
    // The takeover stands: the proxy is failed and its chunk peer masters it.
    const proxy = beforeDoc.all_proxies[cmd.address]!;
    assert.ok(proxy.cluster !== null);
    assert.ok(after.failed_proxies.includes(cmd.address));
    assert.deepEqual(new Set(after.failed_proxies), new Set([...beforeDoc.failed_proxies, cmd.address]));
    assert.deepEqual(after.all_proxies, beforeDoc.all_proxies);
    assert.deepEqual(after.failures, beforeDoc.failures);
    assert.ok(after.global_epoch > beforeDoc.global_epoch);
    for (const [clusterName, cluster] of Object.entries(after.clusters)) {
      if (clusterName !== proxy.cluster) assert.deepEqual(cluster, beforeDoc.clusters[clusterName]);
    }
    const chunk = after.clusters[proxy.cluster]!.chunks.find((c) => c.proxy_addresses.includes(cmd.address))!;
    const side = chunk.proxy_addresses.indexOf(cmd.address);
    assert.equal(chunk.role_position, side === 0 ? 'SecondChunkMaster' : 'FirstChunkMaster');
    return `${cmd.kind}:${code}`;
  }
  assert.equal(outcome.changes, null);
  assert.equal(snapshot(store), before, `${cmd.kind} failed with ${code} but changed the store`);
  return `${cmd.kind}:${code}`;
}

test('random command sequences keep the store consistent and the epoch rules', () => {
  const fleet = fc.record({ hosts: fc.integer({ min: 2, max: 5 }), perHost: fc.integer({ min: 1, max: 4 }) });
  const seen = new Map<string, number>();
  fc.assert(
    fc.property(
      fleet,
      fc.constantFrom(0, 1, 2),
      fc.array(opArb, { minLength: 5, maxLength: 80 }),
      ({ hosts, perHost }, limit, ops) => {
        const store = storeWithProxies(hosts, perHost);
        const ctx: CommandContext = { ...CTX, migrationLimit: limit };
        // Start with cluster `a` so that most steps act on a live cluster.
        must(store, { kind: 'addCluster', name: 'a', nodeNumber: hosts * perHost >= 4 ? 8 : 4 }, ctx);
        for (const op of ops) {
          if (op.op === 'checkResources') {
            // A what-if query: it runs failovers on the live store and must leave no trace.
            const before = snapshot(store);
            const revision = store.revision;
            hostsThatCannotFail(store, limit);
            assert.equal(snapshot(store), before);
            assert.equal(store.revision, revision);
            continue;
          }
          const cmd = toCommand(store, op, limit);
          const label = checkStep(store, cmd, ctx);
          seen.set(label, (seen.get(label) ?? 0) + 1);
        }
      },
    ),
    { numRuns: Number(process.env.SEQUENCE_RUNS ?? 400) },
  );
  if (process.env.SEQUENCE_STATS) console.log([...seen].sort());
  // The generator must reach the interesting outcomes, or the property says little.
  for (const kind of [
    'addCluster:ok',
    'expand:ok',
    'shrink:ok',
    'commitMigration:ok',
    'failover:ok',
    'failover:NO_AVAILABLE_RESOURCE',
    'addProxy:ALREADY_EXISTED',
    'deleteFreeNodes:ok',
    'addNodes:MIGRATION_RUNNING',
    'commitMigration:MIGRATION_TASK_NOT_FOUND',
    'shrink:ok',
    'removeProxy:ok',
  ]) {
    assert.ok((seen.get(kind) ?? 0) > 0, `no step produced ${kind}`);
  }
});
