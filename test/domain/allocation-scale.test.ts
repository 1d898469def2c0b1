/**
 * Allocation on a large fleet: functional properties only. How fast it
 * runs is measured by the benchmarks, not asserted here.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { applyCommand } from '../../src/domain/commands.js';
import { hostsThatCannotFail } from '../../src/domain/resource.js';
import { emptyStore } from '../../src/domain/store.js';
import type { MutableStore } from '../../src/domain/types.js';
import { CTX, must } from '../fixtures/stores.js';
import { assertConsistent } from '../helpers/invariants.js';

const HOSTS = 1000;
const PER_HOST = 10;

function host(h: number): string {
  return `10.${h >> 8}.${h & 255}.1`;
}

function bigFleet(): MutableStore {
  const store = emptyStore();
  for (let h = 0; h < HOSTS; h++) {
    for (let i = 0; i < PER_HOST; i++) {
      const address = `${host(h)}:${7000 + i}`;
      must(store, {
        kind: 'addProxy',
        proxy_address: address,
        nodes: [`${host(h)}:${6000 + 2 * i}`, `${host(h)}:${6001 + 2 * i}`],
        host: null,
      });
    }
  }
  return store;
}

/** Chunks linking each unordered pair of hosts, over every cluster. */
function linkCounts(store: MutableStore): Map<string, number> {
  const links = new Map<string, number>();
  for (const cluster of store.clusters.values()) {
    for (const chunk of cluster.chunks) {
      const [a, b] = [...chunk.hosts].sort();
      const key = `${a}|${b}`;
      links.set(key, (links.get(key) ?? 0) + 1);
    }
  }
  return links;
}

test('1,000 hosts x 10 proxies: many clusters get chunks on distinct hosts, links and load spread evenly', () => {
  const store = bigFleet();
  const sizes = [4, 8, 12, 16, 20, 40, 80];
  let created = 0;
  // Fill 90% of the fleet with clusters of mixed sizes.
  for (let used = 0; used + 80 <= HOSTS * PER_HOST * 0.9; created++) {
    const nodes = sizes[created % sizes.length]!;
    const outcome = applyCommand(store, { kind: 'addCluster', name: `c${created}`, nodeNumber: nodes }, CTX);
    assert.ok(outcome.ok, `cluster ${created} of ${nodes} nodes`);
    used += nodes / 2;
  }
  assert.ok(created > 400);
  assertConsistent(store);

  // No pair of hosts is linked twice while unlinked hosts remain: with
  // ~9 chunks per host out of 999 possible partners, every link is distinct.
  const links = linkCounts(store);
  assert.equal(Math.max(...links.values()), 1, 'no two chunks link the same two hosts');

  // The fullest host gives first, so used proxies per host stay within one.
  const usedPerHost = new Map<string, number>();
  for (const p of store.proxies.values())
    if (p.cluster !== null) usedPerHost.set(p.host, (usedPerHost.get(p.host) ?? 0) + 1);
  assert.equal(usedPerHost.size, HOSTS);
  const counts = [...usedPerHost.values()];
  assert.ok(
    Math.max(...counts) - Math.min(...counts) <= 1,
    `used proxies per host range from ${Math.min(...counts)} to ${Math.max(...counts)}`,
  );

  // Losing a whole host: its chunks' masters move to as many distinct hosts
  // as it has chunks, and the spare proxies absorb every host's loss.
  const victim = host(123);
  const partners = new Set<string>();
  let victimChunks = 0;
  for (const cluster of store.clusters.values()) {
    for (const chunk of cluster.chunks) {
      const side = chunk.hosts.indexOf(victim);
      if (side < 0) continue;
      victimChunks += 1;
      partners.add(chunk.hosts[1 - side]!);
    }
  }
  assert.equal(partners.size, victimChunks);
  assert.deepEqual(hostsThatCannotFail(store, 1), []);

  // Fail every proxy of the victim host: each gets a replacement, on a host
  // other than its chunk partner, and the store stays consistent.
  const victimProxies = [...store.proxies.values()]
    .filter((p) => p.host === victim && p.cluster !== null)
    .map((p) => p.proxy_address);
  const replacementHosts = new Set<string>();
  for (const address of victimProxies) {
    const outcome = applyCommand(store, { kind: 'failover', address }, CTX);
    assert.ok(outcome.ok, `failover of ${address}`);
    const view = outcome.value as { address: string };
    replacementHosts.add(store.proxies.get(view.address)!.host);
  }
  assert.ok(!replacementHosts.has(victim));
  assert.equal(replacementHosts.size, victimProxies.length, 'each replacement comes from a different host');
  assertConsistent(store);
});
