/**
 * Replication between two real brokers (docs/operations.md#replication): the primary PUTs
 * its whole document to the secondary every sync_meta_interval seconds,
 * survives the secondary going away, and the secondary catches up once it
 * is back. The secondary listens on a fixed port so that it can come back
 * on the same address.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pollUntil, proxyBody, startBroker } from '../helpers/broker-process.js';
import { ownPort, processLoopback } from '../helpers/ports.js';
import type { BrokerProcess, LogLine } from '../helpers/broker-process.js';

/** Bound on "the next interval": sync_meta_interval is 1 s, a start about 1 s more on a busy box. */
const CATCH_UP_MS = 10_000;

async function metadata(broker: BrokerProcess, token?: string): Promise<unknown> {
  const answer = await broker.call('GET', '/metadata', undefined, token === undefined ? {} : { token });
  assert.equal(answer.status, 200, answer.text);
  return answer.json();
}

/** Waits until the secondary serves exactly the primary's document (polling both, bounded). */
async function caughtUp(primary: BrokerProcess, secondary: BrokerProcess, token?: string): Promise<unknown> {
  return pollUntil(
    async () => {
      const [p, s] = [await metadata(primary, token), await metadata(secondary, token)];
      try {
        assert.deepEqual(s, p);
        return p;
      } catch {
        return undefined;
      }
    },
    CATCH_UP_MS,
    'the secondary serves the primary document',
  );
}

async function write(
  broker: BrokerProcess,
  method: string,
  path: string,
  body?: unknown,
  token?: string,
): Promise<void> {
  const answer = await broker.call(method, path, body, token === undefined ? {} : { token });
  assert.equal(answer.status, 200, `${method} ${path}: ${answer.status} ${answer.text}`);
}

/** The secondary's log line for a PUT /metadata (a push from the primary) answered `status`. */
const isPush = (status: number) => (l: LogLine) =>
  l.msg === 'request' && l.method === 'PUT' && l.route === '/api/v2/metadata' && l.status === status;

const isReplicationFailure = (address: string) => (l: LogLine) =>
  l.level === 'warn' && l.replica === address && /replication failed/.test(l.msg ?? '');

test(
  'replication: the secondary follows the primary, and catches up after a restart',
  { timeout: 60_000 },
  async (t) => {
    // A fixed address, as the secondary restarts on it: on this process's own loopback address, no one else's.
    const secondaryAddress = `${processLoopback()}:${ownPort()}`;
    let secondary = await startBroker({ env: { UNDERMOON_ADDRESS: secondaryAddress } });
    assert.equal(secondary.address, secondaryAddress);
    const primary = await startBroker({
      env: { UNDERMOON_REPLICA_ADDRESSES: secondaryAddress, UNDERMOON_SYNC_META_INTERVAL: '1' },
    });
    t.after(async () => {
      await primary.kill();
      await secondary.kill();
    });

    for (let i = 1; i <= 4; i++) await write(primary, 'POST', '/proxies/meta', proxyBody(1 + (i % 2), i));
    await write(primary, 'POST', '/clusters/meta/first', { node_number: 4 });
    await write(primary, 'POST', '/failures/127.0.0.9:1/coordinator1');
    const first = (await caughtUp(primary, secondary)) as { clusters: Record<string, unknown> };
    assert.ok(Object.hasOwn(first.clusters, 'first'), 'the cluster made it to the secondary');
    assert.equal(
      primary.logs.filter(isReplicationFailure(secondaryAddress)).length,
      0,
      'no failure while the secondary was up',
    );

    await secondary.kill();
    for (let i = 5; i <= 8; i++) await write(primary, 'POST', '/proxies/meta', proxyBody(1 + (i % 2), i));
    await write(primary, 'POST', '/clusters/meta/second', { node_number: 4 });
    const failure = await primary.waitForLog(
      isReplicationFailure(secondaryAddress),
      CATCH_UP_MS,
      'replication failure line',
    );
    assert.equal(typeof failure.err, 'string', 'the line says why');

    // Still serving reads and writes while its replica is gone.
    await write(primary, 'POST', '/clusters/meta/third', { node_number: 4 });
    const expected = (await metadata(primary)) as { clusters: Record<string, unknown> };
    assert.deepEqual(Object.keys(expected.clusters).sort(), ['first', 'second', 'third']);

    // The restarted secondary starts empty (no metadata file); what it serves next came by replication.
    secondary = await startBroker({ env: { UNDERMOON_ADDRESS: secondaryAddress } });
    assert.equal(secondary.address, secondaryAddress);
    await caughtUp(primary, secondary);
    await secondary.waitForLog(isPush(200), 5_000, 'a push from the primary answered 200');
  },
);

test(
  'replication: with api_token on both brokers the primary authenticates to the secondary',
  { timeout: 60_000 },
  async (t) => {
    const token = 'e2e-replication-token';
    const secondary = await startBroker({ env: { UNDERMOON_API_TOKEN: token } });
    const secondaryAddress = secondary.address;
    const primary = await startBroker({
      env: {
        UNDERMOON_REPLICA_ADDRESSES: secondaryAddress,
        UNDERMOON_SYNC_META_INTERVAL: '1',
        UNDERMOON_API_TOKEN: token,
      },
    });
    t.after(async () => {
      await primary.kill();
      await secondary.kill();
    });

    // The secondary does refuse PUT /metadata without the token, so replication working proves it was sent.
    const anonymous = await secondary.call('PUT', '/metadata', await metadata(secondary, token));
    assert.equal(anonymous.status, 401, anonymous.text);

    for (let i = 1; i <= 2; i++) await write(primary, 'POST', '/proxies/meta', proxyBody(i, i), token);
    await write(primary, 'POST', '/clusters/meta/secured', { node_number: 4 }, token);
    const doc = (await caughtUp(primary, secondary, token)) as { clusters: Record<string, unknown> };
    assert.ok(Object.hasOwn(doc.clusters, 'secured'));
    await secondary.waitForLog(isPush(200), 5_000, 'a push from the primary answered 200');
    assert.equal(primary.logs.filter(isReplicationFailure(secondaryAddress)).length, 0, primary.describe());
  },
);
