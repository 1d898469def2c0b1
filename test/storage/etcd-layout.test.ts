/**
 * The etcd key layout, pure: key names, the keys each kind of change
 * writes, whole-store writes and loads, transaction batching, and a
 * follower applying the leader's key events. A simulated etcd (a key map)
 * stands in for the real one, which test/matrix exercises end to end.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { prepareCommand } from '../../src/domain/commands.js';
import type { Command, CommandContext } from '../../src/domain/commands.js';
import { META_VERSION } from '../../src/domain/constants.js';
import { Draft, emptyStore, replaceStore, storeFromDocument, storeToDocument } from '../../src/domain/store.js';
import type { ChangeSet } from '../../src/domain/store.js';
import type { MetaDocument, MutableStore } from '../../src/domain/types.js';
import {
  applyKeyEvents,
  batchWrites,
  CURRENT_KEY,
  dataKey,
  FailedOrder,
  generationPrefix,
  LayoutError,
  LEADER_KEY,
  parseKey,
  storeFromKeys,
  writeBytes,
  writesForChanges,
  writesForStore,
} from '../../src/storage/etcd-layout.js';
import type { KeyKind, KeyWrite } from '../../src/storage/etcd-layout.js';
import { opArb, toCommand } from '../fixtures/commands.js';
import { CTX, must, proxyAddress, storeWithProxies } from '../fixtures/stores.js';

// ---- Keys ----

test('parseKey reads back every key dataKey makes, ids with slashes and colons included', () => {
  const ids: Record<KeyKind, string[]> = {
    version: [''],
    epoch: [''],
    cluster: ['db', 'a_b-c', '__proto__', '0'],
    proxy: ['127.0.0.1:7000', '[::1]:7000', 'host/with/slashes:1', ''],
    failed: ['127.0.0.1:7000', 'a/b'],
    failures: ['127.0.0.1:7000', 'ü:1'],
  };
  for (const gen of [0, 1, 42, Number.MAX_SAFE_INTEGER]) {
    for (const [kind, list] of Object.entries(ids) as [KeyKind, string[]][]) {
      for (const id of list) {
        // A failure report's key also names its reporter (addresses and reporters hold no '/').
        const reporter = kind === 'failures' ? 'coordinator-1' : '';
        const key = dataKey(gen, kind, id, reporter);
        assert.ok(key.startsWith(generationPrefix(gen)), key);
        assert.deepEqual(parseKey(key), { gen, kind, id, reporter }, key);
      }
    }
  }
  assert.equal(dataKey(3, 'cluster', 'db'), 'g/3/c/db');
  assert.equal(dataKey(3, 'proxy', 'h:1'), 'g/3/p/h:1');
  assert.equal(dataKey(3, 'failed', 'h:1'), 'g/3/x/h:1');
  assert.equal(dataKey(3, 'failures', 'h:1', 'r'), 'g/3/f/h:1/r');
  assert.equal(dataKey(3, 'epoch'), 'g/3/epoch');
  assert.equal(dataKey(3, 'version'), 'g/3/version');
});

test('parseKey: leader, current and malformed keys are not data keys', () => {
  const notData = [
    LEADER_KEY,
    CURRENT_KEY,
    '',
    'g',
    'g/',
    'g/1',
    'g/1/',
    'g//epoch',
    'g/x/epoch',
    'g/-1/epoch',
    'g/1.5/epoch',
    'g/ 1/epoch',
    'g/0x1/epoch',
    'g/1e0/epoch',
    'g/01/epoch',
    'g/9007199254740992/epoch',
    'g/1/epochs',
    'g/1/Version',
    'g/1/c',
    'g/1/cx',
    'g/1/z/a',
    'h/1/c/a',
    '/g/1/c/a',
  ];
  for (const key of notData) assert.equal(parseKey(key), null, JSON.stringify(key));
});

// ---- Writes for one change ----

/** Prepares and commits one command the way the owner does; returns the change set and the writes. */
function commitWithWrites(store: MutableStore, cmd: Command, gen: number, order: FailedOrder, ctx = CTX) {
  const prepared = prepareCommand(store, cmd, ctx);
  assert.ok(prepared.outcome.changes !== null, `${cmd.kind} changed something`);
  assert.equal(prepared.replacesStore, false);
  const writes = writesForChanges(prepared.next, prepared.outcome.changes, gen, order);
  const changes = prepared.commit();
  return { outcome: prepared.outcome, changes, writes };
}

/** Re-adding a registered proxy with its own record: ALREADY_EXISTED, and it is marked recovered. */
function readd(store: MutableStore, address: string): Command {
  const proxy = store.proxies.get(address)!;
  return { kind: 'addProxy', proxy_address: address, nodes: [...proxy.node_addresses], host: proxy.host };
}

function byKey(writes: readonly KeyWrite[]): Map<string, string | null> {
  const map = new Map<string, string | null>();
  for (const w of writes) {
    assert.ok(!map.has(w.key), `${w.key} is written once`);
    map.set(w.key, w.value);
  }
  return map;
}

/** Exactly the keys the change set names, each with the store's record (or a deletion). */
function assertWritesMatch(store: MutableStore, changes: ChangeSet, writes: readonly KeyWrite[], gen: number): void {
  const map = byKey(writes);
  const expected = new Set<string>();
  if (changes.epoch) expected.add(dataKey(gen, 'epoch'));
  for (const name of changes.clusters) expected.add(dataKey(gen, 'cluster', name));
  for (const address of changes.proxies) expected.add(dataKey(gen, 'proxy', address));
  for (const address of changes.failed) expected.add(dataKey(gen, 'failed', address));
  for (const [address, reporter] of changes.reports) expected.add(dataKey(gen, 'failures', address, reporter));
  assert.deepEqual(new Set(map.keys()), expected);
  for (const [key, value] of map) {
    const parsed = parseKey(key)!;
    assert.equal(parsed.gen, gen);
    switch (parsed.kind) {
      case 'epoch':
        assert.equal(value, String(store.globalEpoch));
        break;
      case 'cluster': {
        const cluster = store.clusters.get(parsed.id);
        assert.deepEqual(value === null ? undefined : JSON.parse(value), cluster, key);
        break;
      }
      case 'proxy': {
        const proxy = store.proxies.get(parsed.id);
        assert.deepEqual(value === null ? undefined : JSON.parse(value), proxy, key);
        break;
      }
      case 'failed':
        assert.equal(value !== null, store.failedProxies.has(parsed.id), key);
        if (value !== null) assert.ok(Number.isSafeInteger(Number(value)) && Number(value) >= 0, `${key}: ${value}`);
        break;
      case 'failures': {
        const at = store.failures.get(parsed.id)?.get(parsed.reporter);
        assert.equal(value === null ? undefined : Number(value), at, key);
        break;
      }
      case 'version':
        assert.fail('a change never writes the version');
    }
  }
}

test('writesForChanges: each kind of change writes exactly its keys, deletions as null', () => {
  const gen = 7;
  const order = new FailedOrder();
  const store = storeWithProxies(3, 2);
  const step = (cmd: Command) => {
    const { changes, writes } = commitWithWrites(store, cmd, gen, order);
    assertWritesMatch(store, changes, writes, gen);
    return byKey(writes);
  };

  // A new cluster: the epoch, the cluster and the proxies it took.
  let w = step({ kind: 'addCluster', name: 'db', nodeNumber: 4 });
  assert.ok(w.get(dataKey(gen, 'cluster', 'db')));
  assert.ok([...w.keys()].some((k) => parseKey(k)?.kind === 'proxy'));
  assert.equal(w.get(dataKey(gen, 'epoch')), String(store.globalEpoch));

  // A config change: only the epoch and that cluster.
  w = step({ kind: 'changeConfig', name: 'db', config: { compression_strategy: 'allow_all' } });
  assert.deepEqual([...w.keys()].sort(), [dataKey(gen, 'cluster', 'db'), dataKey(gen, 'epoch')].sort());

  // A failure report: one key for that report, whatever the reporters before it.
  const free = [...store.proxies.values()].find((p) => p.cluster === null)!.proxy_address;
  w = step({ kind: 'addFailure', address: free, reporter: 'r1' });
  assert.equal(w.get(dataKey(gen, 'failures', free, 'r1')), String(CTX.now));
  w = step({ kind: 'addFailure', address: free, reporter: 'r2' });
  assert.deepEqual(
    [...w.keys()].filter((k) => parseKey(k)?.kind === 'failures'),
    [dataKey(gen, 'failures', free, 'r2')],
  );

  // Re-adding a reported proxy clears its reports: a deletion per report.
  const recovered = prepareCommand(store, readd(store, free), CTX);
  assert.equal(recovered.outcome.ok, false);
  const recoveredWrites = byKey(writesForChanges(store, recovered.outcome.changes!, gen, order));
  recovered.commit();
  for (const reporter of ['r1', 'r2']) {
    assert.ok(recoveredWrites.has(dataKey(gen, 'failures', free, reporter)));
    assert.equal(recoveredWrites.get(dataKey(gen, 'failures', free, reporter)), null);
  }

  // A failover: the failed key, the cluster and the epoch.
  const member = [...store.proxies.values()].find((p) => p.cluster === 'db')!.proxy_address;
  w = step({ kind: 'failover', address: member });
  assert.ok(w.get(dataKey(gen, 'failed', member)) !== null);

  // Removing a proxy deletes its key; removing the cluster deletes it and frees its proxies.
  w = step({ kind: 'removeProxy', address: free });
  assert.equal(w.get(dataKey(gen, 'proxy', free)), null);
  assert.ok(w.has(dataKey(gen, 'proxy', free)));
  w = step({ kind: 'removeCluster', name: 'db' });
  assert.equal(w.get(dataKey(gen, 'cluster', 'db')), null);
  assert.ok(w.has(dataKey(gen, 'cluster', 'db')));

  // A forced epoch with no cluster left: the epoch alone.
  w = step({ kind: 'forceEpoch', epoch: store.globalEpoch + 10 });
  assert.deepEqual([...w.entries()], [[dataKey(gen, 'epoch'), String(store.globalEpoch)]]);

  // Expired reports are pruned: the report's key goes.
  step({ kind: 'addFailure', address: proxyAddress(2, 1), reporter: 'old' });
  const later = { ...CTX, now: CTX.now + 60 };
  const pruned = commitWithWrites(store, { kind: 'pruneFailures', ttlSeconds: 5 }, gen, order, later);
  assertWritesMatch(store, pruned.changes, pruned.writes, gen);
  assert.deepEqual([...byKey(pruned.writes)], [[dataKey(gen, 'failures', proxyAddress(2, 1), 'old'), null]]);
});

test('writesForChanges: failed proxies get rising order values, so a load lists them in the order they failed', () => {
  const gen = 1;
  const order = new FailedOrder();
  const store = storeWithProxies(4, 2);
  must(store, { kind: 'addCluster', name: 'db', nodeNumber: 16 });
  const members = [...store.proxies.values()].filter((p) => p.cluster === 'db').map((p) => p.proxy_address);
  // Fail them in reverse key order, so that etcd's key order and the failure order disagree.
  const failing = [...members].sort().reverse().slice(0, 3);
  const kv = new Map(writesForStore(store, gen, new FailedOrder()).map((w) => [w.key, w.value!]));
  const values: number[] = [];
  for (const address of failing) {
    const { writes } = commitWithWrites(store, { kind: 'failover', address }, gen, order);
    values.push(Number(byKey(writes).get(dataKey(gen, 'failed', address))));
    applyToKv(kv, writes);
  }
  assert.deepEqual([...store.failedProxies], failing);
  assert.deepEqual(
    values,
    [...values].sort((a, b) => a - b),
  );
  assert.equal(new Set(values).size, values.length, 'distinct order values');
  const sortedKeys = [...kv.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const loadOrder = new FailedOrder();
  const loaded = storeFromKeys(
    sortedKeys.map(([key, value]) => ({ key, value })),
    gen,
    loadOrder,
  );
  assert.deepEqual([...loaded.failedProxies], failing);
  // The loaded order continues past every value it saw: a new leader appends after them.
  assert.ok(loadOrder.take() > Math.max(...values));
  // Recovery removes the key; a second failure of the same proxy moves it to the end.
  const first = failing[0]!;
  const { writes } = commitWithWrites(store, readd(store, first), gen, order);
  assert.equal(byKey(writes).get(dataKey(gen, 'failed', first)), null);
});

// ---- Whole stores ----

function applyToKv(kv: Map<string, string>, writes: readonly KeyWrite[]): void {
  for (const w of writes) {
    if (w.value === null) kv.delete(w.key);
    else kv.set(w.key, w.value);
  }
}

function entries(kv: ReadonlyMap<string, string>): { key: string; value: string }[] {
  return [...kv].map(([key, value]) => ({ key, value }));
}

/** The keys a set of writes leaves in an empty etcd. */
function kvOf(writes: readonly KeyWrite[]): Map<string, string> {
  const kv = new Map<string, string>();
  applyToKv(kv, writes);
  return kv;
}

test('writesForStore + storeFromKeys: a hand-made store with every field comes back equal', () => {
  const built = storeWithProxies(3, 2);
  must(built, { kind: 'addCluster', name: 'db', nodeNumber: 4 });
  const doc: MetaDocument = storeToDocument(built);
  const store = storeFromDocument({
    ...doc,
    global_epoch: 2 ** 52,
    failed_proxies: [proxyAddress(3, 2), proxyAddress(1, 1), proxyAddress(2, 2)],
    // Oldest first, as the broker keeps them (a restore drops empty report maps).
    failures: { [proxyAddress(1, 2)]: { b: 5, a: 9 }, [proxyAddress(2, 1)]: { c: 7 } },
  });
  const expected = storeToDocument(store);
  const writes = writesForStore(store, 5, new FailedOrder());
  assert.equal(writes.filter((w) => w.value === null).length, 0, 'a whole store writes no deletions');
  assert.equal(byKey(writes).get(dataKey(5, 'version')), META_VERSION);
  // Keys of another generation and the control keys are ignored, in any order.
  const noise = [
    { key: LEADER_KEY, value: '{"id":"x"}' },
    { key: CURRENT_KEY, value: '5' },
    { key: dataKey(4, 'cluster', 'old'), value: 'not json' },
    { key: dataKey(6, 'epoch'), value: 'nope' },
  ];
  const all = [...noise, ...writes.map((w) => ({ key: w.key, value: w.value! }))].reverse();
  assert.deepEqual(storeToDocument(storeFromKeys(all, 5, new FailedOrder())), expected);
});

test('storeFromKeys refuses a generation without its version, another version, a bad epoch or bad JSON', () => {
  const store = storeWithProxies(1, 1);
  const kv = new Map(writesForStore(store, 2, new FailedOrder()).map((w) => [w.key, w.value!]));
  const without = (key: string) => entries(new Map([...kv].filter(([k]) => k !== key)));
  const with_ = (key: string, value: string) => entries(new Map([...kv, [key, value]]));
  assert.throws(() => storeFromKeys(without(dataKey(2, 'version')), 2, new FailedOrder()), LayoutError);
  assert.throws(() => storeFromKeys(entries(kv), 3, new FailedOrder()), LayoutError, 'a generation without keys');
  const otherVersion = with_(dataKey(2, 'version'), 'mem-broker-9');
  assert.throws(() => storeFromKeys(otherVersion, 2, new FailedOrder()), /metadata version/);
  for (const epoch of ['-1', '1.5', 'x', '9007199254740992']) {
    assert.throws(() => storeFromKeys(with_(dataKey(2, 'epoch'), epoch), 2, new FailedOrder()), /epoch/, epoch);
  }
  assert.throws(() => storeFromKeys(with_(dataKey(2, 'cluster', 'db'), '{'), 2, new FailedOrder()), /JSON/);
  for (const at of ['[1]', 'null', '-1', '1.5']) {
    assert.throws(
      () => storeFromKeys(with_(dataKey(2, 'failures', 'h:1', 'r'), at), 2, new FailedOrder()),
      /report time/,
      at,
    );
  }
  assert.deepEqual(storeToDocument(storeFromKeys(entries(kv), 2, new FailedOrder())), storeToDocument(store));
});

// ---- Batching ----

function write(key: string, valueBytes: number | null): KeyWrite {
  return { key, value: valueBytes === null ? null : 'v'.repeat(valueBytes) };
}

function assertBatching(writes: readonly KeyWrite[], maxOps: number, maxBytes: number): KeyWrite[][] {
  const batches = batchWrites(writes, maxOps, maxBytes);
  assert.deepEqual(batches.flat(), writes, 'every write once, in order');
  const bytes = (batch: readonly KeyWrite[]) => batch.reduce((n, w) => n + writeBytes(w), 0);
  batches.forEach((batch, i) => {
    assert.ok(batch.length > 0, 'no empty batch');
    assert.ok(batch.length <= maxOps, `batch ${i} has ${batch.length} > ${maxOps} ops`);
    // Only a write too big on its own may exceed the byte bound, and then alone.
    assert.ok(batch.length === 1 || bytes(batch) <= maxBytes, `batch ${i} has ${bytes(batch)} > ${maxBytes} bytes`);
    const next = batches[i + 1];
    if (next) {
      // Greedy: the next batch's first write would not have fitted.
      const full = batch.length >= maxOps || bytes(batch) + writeBytes(next[0]!) > maxBytes;
      assert.ok(full, `batch ${i} could have taken one more`);
    }
  });
  return batches;
}

test('batchWrites: bounded by ops and by bytes; an oversized write goes alone', () => {
  assert.deepEqual(batchWrites([], 10, 1000), []);
  const ten = Array.from({ length: 10 }, (_, i) => write(`k${i}`, 10));
  assert.deepEqual(
    assertBatching(ten, 3, 1e9).map((b) => b.length),
    [3, 3, 3, 1],
  );
  assert.deepEqual(
    assertBatching(ten, 1, 1e9).map((b) => b.length),
    Array(10).fill(1),
  );
  assert.deepEqual(
    assertBatching(ten, Infinity, 1e9).map((b) => b.length),
    [10],
  );
  // Each write is 2 + 10 + 16 = 28 bytes.
  assert.equal(writeBytes(ten[0]!), 28);
  assert.equal(writeBytes(write('k0', null)), 18, 'a deletion counts its key and framing');
  assert.deepEqual(
    assertBatching(ten, 100, 56).map((b) => b.length),
    [2, 2, 2, 2, 2],
  );
  assert.deepEqual(
    assertBatching(ten, 100, 55).map((b) => b.length),
    Array(10).fill(1),
  );
  const huge = [write('a', 1), write('b', 5000), write('c', 1)];
  assert.deepEqual(
    assertBatching(huge, 100, 1000).map((b) => b.map((w) => w.key)),
    [['a'], ['b'], ['c']],
  );
  // Multi-byte values count in bytes, not characters.
  assert.equal(writeBytes({ key: 'k', value: 'é'.repeat(10) }), 1 + 20 + 16);
});

test('batchWrites: property over random writes and limits', () => {
  const writeArb = fc.record({
    key: fc.string({ minLength: 1, maxLength: 20 }),
    value: fc.option(fc.string({ maxLength: 300 }), { freq: 5 }),
  });
  const limits = [fc.integer({ min: 1, max: 50 }), fc.integer({ min: 1, max: 2000 })] as const;
  fc.assert(
    fc.property(fc.array(writeArb, { maxLength: 200 }), ...limits, (writes, maxOps, maxBytes) => {
      assertBatching(writes, maxOps, maxBytes);
    }),
    { numRuns: 300 },
  );
});

// ---- Leader and follower over a simulated etcd ----

/** Commands the shared op generator does not make: reports that expire, recovered epochs, restores. */
type Extra =
  | { op: 'prune'; ttl: number }
  | { op: 'recover'; by: number }
  | { op: 'restoreEarlier'; back: number }
  | { op: 'report'; pick: number; reporter: number };

const extraArb: fc.Arbitrary<Extra> = fc.oneof(
  fc.record({ op: fc.constant('prune' as const), ttl: fc.constantFrom(0, 5, 30) }),
  fc.record({ op: fc.constant('recover' as const), by: fc.integer({ min: -3, max: 3 }) }),
  fc.record({ op: fc.constant('restoreEarlier' as const), back: fc.integer({ min: 0, max: 5 }) }),
  fc.record({ op: fc.constant('report' as const), pick: fc.nat(14), reporter: fc.nat(3) }),
);

/** One etcd watch revision: the events a committed write produces (deleting an absent key produces none). */
function eventsFor(kv: ReadonlyMap<string, string>, writes: readonly KeyWrite[]): KeyWrite[] {
  return writes.filter((w) => w.value !== null || kv.has(w.key));
}

test('leader and follower: random command sequences leave the follower, a fresh load and the leader equal', () => {
  const seen = new Map<string, number>();
  fc.assert(
    fc.property(
      fc.record({ hosts: fc.integer({ min: 2, max: 4 }), perHost: fc.integer({ min: 1, max: 3 }) }),
      fc.array(fc.oneof({ arbitrary: opArb, weight: 5 }, { arbitrary: extraArb, weight: 1 }), {
        minLength: 1,
        maxLength: 50,
        size: 'max',
      }),
      fc.integer({ min: 0, max: 50 }),
      ({ hosts, perHost }, ops, handOverAt) => {
        const leader = storeWithProxies(hosts, perHost);
        must(leader, { kind: 'addCluster', name: 'a', nodeNumber: 4 });
        let gen = 1;
        let leaderOrder = new FailedOrder();
        const kv = new Map<string, string>();
        applyToKv(kv, writesForStore(leader, gen, leaderOrder));
        const followerOrder = new FailedOrder();
        const follower = storeFromKeys(entries(kv), gen, followerOrder);
        const history: MetaDocument[] = [storeToDocument(leader)];
        let now = CTX.now;

        ops.forEach((op, step) => {
          now += 7;
          const ctx: CommandContext = { now, migrationLimit: 1 };
          if (step === handOverAt) {
            // Another broker takes over: it loads the keys and goes on ordering failed proxies after them.
            leaderOrder = new FailedOrder();
            const reloaded = storeFromKeys(entries(kv), gen, leaderOrder);
            assert.deepEqual(storeToDocument(reloaded), storeToDocument(leader));
          }
          let cmd: Command;
          if (op.op === 'prune') cmd = { kind: 'pruneFailures', ttlSeconds: op.ttl };
          else if (op.op === 'recover') {
            cmd = { kind: 'recoverEpoch', largestProxyEpoch: Math.max(0, leader.globalEpoch + op.by) };
          } else if (op.op === 'restoreEarlier') {
            cmd = { kind: 'restore', document: history[Math.max(0, history.length - 1 - op.back)]! };
          } else if (op.op === 'report') {
            const all = [...leader.proxies.keys()].sort();
            const address = all[op.pick % Math.max(1, all.length)] ?? 'x:1';
            cmd = { kind: 'addFailure', address, reporter: `r${op.reporter}` };
          } else if (op.op === 'checkResources') return;
          else cmd = toCommand(leader, op, ctx.migrationLimit);

          const prepared = prepareCommand(leader, cmd, ctx);
          const label = `${cmd.kind}:${prepared.outcome.ok ? 'ok' : prepared.outcome.error.code}`;
          seen.set(label, (seen.get(label) ?? 0) + 1);
          if (prepared.outcome.changes === null) return;
          if (prepared.replacesStore) {
            // A restore goes whole under the next generation; followers load it.
            gen += 1;
            const whole = writesForStore(prepared.next, gen, leaderOrder);
            prepared.commit();
            for (const key of [...kv.keys()]) if (key.startsWith(generationPrefix(gen - 1))) kv.delete(key);
            applyToKv(kv, whole);
            replaceStore(follower, storeFromKeys(entries(kv), gen, followerOrder));
          } else {
            const writes = writesForChanges(prepared.next, prepared.outcome.changes, gen, leaderOrder);
            prepared.commit();
            const events = eventsFor(kv, writes);
            applyToKv(kv, writes);
            const draft = new Draft(follower);
            applyKeyEvents(draft, events, gen, followerOrder);
            draft.commit();
          }
          history.push(storeToDocument(leader));
          const expected = storeToDocument(leader);
          assert.deepEqual(storeToDocument(follower), expected, `follower after ${label} (step ${step})`);
          const fresh = storeFromKeys(entries(kv), gen, new FailedOrder());
          assert.deepEqual(storeToDocument(fresh), expected, `fresh load after ${label} (step ${step})`);
        });
      },
    ),
    { numRuns: Number(process.env.LAYOUT_RUNS ?? 100) },
  );
  if (process.env.LAYOUT_STATS) console.log([...seen].sort());
  // The generator must reach the changes that write each kind of key.
  const wanted = ['addCluster:ok', 'removeCluster:ok', 'removeProxy:ok', 'failover:ok', 'addFailure:ok'];
  wanted.push('pruneFailures:ok');
  wanted.push('addProxy:ALREADY_EXISTED', 'restore:ok', 'recoverEpoch:ok', 'commitMigration:ok');
  for (const label of wanted) {
    assert.ok((seen.get(label) ?? 0) > 0, `no step produced ${label}: ${JSON.stringify([...seen])}`);
  }
});

test('applyKeyEvents ignores other generations and control keys, and publishes only what changed', () => {
  const store = storeWithProxies(2, 1);
  const follower = storeFromKeys(entries(kvOf(writesForStore(store, 3, new FailedOrder()))), 3, new FailedOrder());
  const before = storeToDocument(follower);
  const draft = new Draft(follower);
  applyKeyEvents(
    draft,
    [
      { key: LEADER_KEY, value: 'x' },
      { key: CURRENT_KEY, value: '4' },
      { key: dataKey(2, 'epoch'), value: '99' },
      { key: dataKey(4, 'proxy', proxyAddress(1, 1)), value: null },
      { key: dataKey(3, 'version'), value: META_VERSION },
    ],
    3,
    new FailedOrder(),
  );
  const changes = draft.commit();
  assert.deepEqual(storeToDocument(follower), before);
  assert.equal(changes.epoch, false);
  assert.equal(changes.proxies.size + changes.clusters.size + changes.failed.size + changes.failures.size, 0);
  // An empty store loads from its version and epoch alone.
  const empty = emptyStore();
  const loaded = storeFromKeys(entries(kvOf(writesForStore(empty, 1, new FailedOrder()))), 1, new FailedOrder());
  assert.deepEqual(storeToDocument(loaded), storeToDocument(empty));
});
