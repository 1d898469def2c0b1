/**
 * Invariants every store built by commands must satisfy, checked
 * independently of the domain's own checkMetadata (which is also asserted),
 * and a byte-level snapshot of the stored document for before/after checks.
 */
import assert from 'node:assert/strict';
import { checkMetadata } from '../../src/domain/check.js';
import { SLOT_NUM } from '../../src/domain/constants.js';
import { storeToDocument } from '../../src/domain/store.js';
import type { MetaStore, MigrationMeta, SlotRange, SlotRangeTag } from '../../src/domain/types.js';
import { clusterView } from '../../src/domain/views.js';

export interface ConsistencyOptions {
  /** A restored document may hold a chunk on one host; commands never build one. */
  readonly allowSameHostChunks?: boolean;
}

export function migrationMeta(tag: SlotRangeTag): MigrationMeta | null {
  if (tag === 'None') return null;
  return 'Migrating' in tag ? tag.Migrating : tag.Importing;
}

function rangeKey(slotRange: SlotRange): string {
  const meta = migrationMeta(slotRange.tag);
  return `${JSON.stringify(slotRange.range_list)}@${meta ? JSON.stringify(meta) : '-'}`;
}

export function assertConsistent(store: MetaStore, options: ConsistencyOptions = {}): void {
  assert.deepEqual(checkMetadata(store), [], 'checkMetadata reports no problem');

  const chunkOf = new Map<string, string>();
  for (const [name, cluster] of store.clusters) {
    cluster.chunks.forEach((chunk, ci) => {
      const where = `${name}#${ci}`;
      if (!options.allowSameHostChunks) {
        assert.notEqual(chunk.hosts[0], chunk.hosts[1], `chunk ${where} has both halves on host ${chunk.hosts[0]}`);
      }
      for (const address of chunk.proxy_addresses) {
        assert.equal(chunkOf.get(address), undefined, `proxy ${address} is in ${chunkOf.get(address)} and ${where}`);
        chunkOf.set(address, where);
        const proxy = store.proxies.get(address);
        assert.ok(proxy, `chunk ${where} names unknown proxy ${address}`);
        assert.equal(proxy.cluster, name, `proxy ${address} in ${where} says cluster ${proxy.cluster}`);
      }
    });

    // Coverage as a coordinator sees it: every slot is served exactly once
    // by a master, stable or migrating out; importing ranges mirror a
    // migrating range with the same meta.
    const view = clusterView(cluster, 0);
    assert.equal(view.nodes.length, cluster.chunks.length * 4, `cluster ${name} shows 4 nodes per chunk`);
    assert.equal(view.epoch, cluster.epoch);
    const owner = new Uint8Array(SLOT_NUM);
    const migrating = new Set<string>();
    const importing: string[] = [];
    let masters = 0;
    for (const node of view.nodes) {
      if (node.repl.role === 'replica') {
        assert.deepEqual(node.slots, [], `replica ${node.address} of ${name} lists no slots`);
        continue;
      }
      masters += 1;
      for (const slotRange of node.slots) {
        const tag = slotRange.tag;
        if (tag !== 'None' && 'Importing' in tag) {
          importing.push(rangeKey(slotRange));
          continue;
        }
        if (tag !== 'None') {
          assert.equal(
            tag.Migrating.src_node_address,
            node.address,
            `migrating range on ${node.address} names its source`,
          );
          migrating.add(rangeKey(slotRange));
        }
        for (const [start, end] of slotRange.range_list) {
          if (!(Number.isInteger(start) && Number.isInteger(end) && start >= 0 && end < SLOT_NUM && start <= end)) {
            assert.fail(`range [${start}, ${end}] of ${name} is invalid`);
          }
          const twice = owner.indexOf(1, start);
          if (twice >= 0 && twice <= end) assert.fail(`slot ${twice} of ${name} is served twice`);
          owner.fill(1, start, end + 1);
        }
      }
    }
    assert.equal(masters, cluster.chunks.length * 2, `cluster ${name} has 2 masters per chunk`);
    const missing = owner.indexOf(0);
    assert.equal(missing, -1, `slot ${missing} of ${name} is served by no master`);
    for (const key of importing)
      assert.ok(migrating.has(key), `importing range ${key} of ${name} has a migrating source`);
    assert.equal(importing.length, migrating.size, `cluster ${name}: every migrating range has an importing side`);
  }

  for (const [address, proxy] of store.proxies) {
    assert.equal(proxy.proxy_address, address);
    const where = chunkOf.get(address);
    if (proxy.cluster === null) assert.equal(where, undefined, `free proxy ${address} sits in chunk ${where}`);
    else
      assert.ok(
        where?.startsWith(`${proxy.cluster}#`),
        `proxy ${address} says cluster ${proxy.cluster} but sits in ${where}`,
      );
  }
}

/** The stored document as JSON: equal strings mean an unchanged store, key order included. */
export function snapshot(store: MetaStore): string {
  return JSON.stringify(storeToDocument(store));
}

/** The stored document as a fresh plain object, for targeted comparisons. */
export function documentOf(store: MetaStore): ReturnType<typeof storeToDocument> {
  return JSON.parse(snapshot(store)) as ReturnType<typeof storeToDocument>;
}
