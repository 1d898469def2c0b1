import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AnswerCache } from '../../src/frontend/answer-cache.js';
import type { ChangeSummary, QueryRequest } from '../../src/rpc/messages.js';

const q: QueryRequest = { name: 'clusterMeta', cluster: 'db' };

function change(generation: number, over: Partial<ChangeSummary> = {}): ChangeSummary {
  return {
    generation,
    globalEpoch: generation,
    revision: 0,
    clusters: [],
    proxies: [],
    failures: false,
    failed: false,
    epoch: false,
    keys: false,
    full: false,
    ...over,
  };
}

const text = (bytes: Uint8Array | undefined) => (bytes === undefined ? undefined : Buffer.from(bytes).toString());

test('a held entry goes stale with its dependency, and is fresh again once the same key is stored anew', () => {
  const cache = new AnswerCache({ generation: 1, globalEpoch: 1 }, 100);
  cache.store(q, 'c db', { generation: 1, body: '{"v":1}', deps: ['c:db'] });
  const held = cache.lookup('c db');
  assert.ok(held);
  assert.equal(text(cache.fresh(held)?.bytes), '{"v":1}');

  cache.noteChanges(change(2, { clusters: ['other'] }));
  assert.equal(text(cache.fresh(held)?.bytes), '{"v":1}', 'a change elsewhere leaves it fresh');

  cache.noteChanges(change(3, { clusters: ['db'] }));
  assert.equal(cache.fresh(held), null);
  assert.equal(cache.lookup('c db'), null);

  cache.store(q, 'c db', { generation: 3, body: '{"v":3}', deps: ['c:db'] });
  assert.equal(text(cache.fresh(held)?.bytes), '{"v":3}', 'the held entry carries the new answer');
});

test('a held entry is never fresh again once dropped: whole-store change, or the cache full', () => {
  const cache = new AnswerCache({ generation: 1, globalEpoch: 1 }, 2);
  cache.store(q, 'c db', { generation: 1, body: '{"v":1}', deps: ['c:db'] });
  const held = cache.lookup('c db')!;
  cache.noteChanges(change(2, { full: true }));
  assert.equal(cache.fresh(held), null);
  assert.equal(held.bytes.byteLength, 0, 'its bytes are let go');

  // Stored again: a new entry; the dropped one stays dropped.
  cache.store(q, 'c db', { generation: 2, body: '{"v":2}', deps: ['c:db'] });
  assert.equal(cache.fresh(held), null);
  const second = cache.lookup('c db')!;
  assert.equal(text(second.bytes), '{"v":2}');

  cache.store({ name: 'clusterMeta', cluster: 'a' }, 'c a', { generation: 2, body: '{"a":1}', deps: ['c:a'] });
  // The third answer finds the cache full: everything held is dropped.
  cache.store({ name: 'clusterMeta', cluster: 'b' }, 'c b', { generation: 2, body: '{"b":1}', deps: ['c:b'] });
  assert.equal(cache.fresh(second), null);
  assert.equal(cache.lookup('c db'), null);
  assert.equal(text(cache.lookup('c b')?.bytes), '{"b":1}');
  assert.equal(cache.size, 1);
});

test('answers for names that do not exist are not kept', () => {
  const cache = new AnswerCache({ generation: 1, globalEpoch: 1 }, 100);
  cache.store(q, 'c db', { generation: 1, body: '{"cluster":null}', deps: ['c:db'] });
  assert.equal(cache.lookup('c db'), null);
  assert.equal(cache.size, 0);
});

test('failure reports leave cluster and proxy answers fresh, and make the failure list stale', () => {
  const cache = new AnswerCache({ generation: 1, globalEpoch: 1 }, 100);
  cache.store(q, 'c db', { generation: 1, body: '{"v":1}', deps: ['c:db'] });
  const failuresQuery: QueryRequest = { name: 'failures', now: 100 };
  cache.store(failuresQuery, 'failures 100', { generation: 1, body: '{"addresses":[]}', deps: ['#failures', '#keys'] });
  const meta = cache.lookup('c db')!;
  const failures = cache.lookup('failures 100')!;
  cache.noteChanges(change(2, { failures: true }));
  assert.equal(cache.fresh(meta), meta);
  assert.equal(cache.fresh(failures), null);
  cache.noteChanges(change(3, { clusters: ['db'] }));
  assert.equal(cache.fresh(meta), null);
  // A change of the whole store reaches every kind of answer.
  cache.store(q, 'c db', { generation: 3, body: '{"v":3}', deps: ['c:db'] });
  assert.ok(cache.fresh(meta));
  cache.noteChanges(change(4, { full: true, keys: true }));
  assert.equal(cache.fresh(meta), null);
});
