/**
 * Epoch recovery through the real process (docs/operations.md#epoch-recovery): PUT
 * /epoch/recovery asks every registered proxy for UMCTL GETEPOCH over RESP,
 * lists the ones that did not answer with an integer, and moves every epoch
 * to max(largest answer + 1, global epoch + 1). The proxies are small RESP
 * servers on 127.0.0.1 run by the test.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import type { AddressInfo, Server, Socket } from 'node:net';
import { test } from 'node:test';
import { startBroker } from '../helpers/broker-process.js';
import { deadAddress } from '../helpers/ports.js';

interface FakeProxy {
  readonly address: string;
  /** How many connections sent a whole UMCTL GETEPOCH command. */
  asked: number;
  close(): Promise<void>;
}

/** A RESP server that answers `reply` to UMCTL GETEPOCH, or never answers when `reply` is null. */
async function fakeProxy(reply: string | null): Promise<FakeProxy> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    let received = '';
    socket.on('data', (chunk) => {
      received += chunk.toString('latin1');
      if (!received.includes('\r\nGETEPOCH\r\n')) return;
      received = '';
      fake.asked += 1;
      if (reply !== null) socket.write(reply);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const fake: FakeProxy = {
    address: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    asked: 0,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  return fake;
}

interface Doc {
  global_epoch: number;
  clusters: Record<string, { epoch: number }>;
}

test(
  'epoch recovery: asks every proxy, lists the ones that failed, and moves every epoch past the largest',
  { timeout: 60_000 },
  async (t) => {
    const answers42 = await fakeProxy(':42\r\n');
    const answers7 = await fakeProxy(':7\r\n');
    const silent = await fakeProxy(null);
    const garbage = await fakeProxy('this is not RESP\r\n');
    const refused = deadAddress();
    const broker = await startBroker();
    t.after(async () => {
      await broker.kill();
      for (const f of [answers42, answers7, silent, garbage]) await f.close();
    });

    // Three hosts, so that two clusters can be allocated among these five proxies.
    const proxies: [string, string][] = [
      [answers42.address, 'hostA'],
      [answers7.address, 'hostB'],
      [silent.address, 'hostC'],
      [garbage.address, 'hostA'],
      [refused, 'hostB'],
    ];
    for (const [i, [address, host]] of proxies.entries()) {
      const answer = await broker.call('POST', '/proxies/meta', {
        proxy_address: address,
        nodes: [`127.0.0.2:${7000 + 2 * i}`, `127.0.0.2:${7001 + 2 * i}`],
        host,
      });
      assert.equal(answer.status, 200, answer.text);
    }
    for (const name of ['alpha', 'beta']) {
      const answer = await broker.call('POST', `/clusters/meta/${name}`, { node_number: 4 });
      assert.equal(answer.status, 200, answer.text);
    }
    const metadata = async () => {
      const answer = await broker.call('GET', '/metadata');
      assert.equal(answer.status, 200, answer.text);
      return answer.json<Doc>();
    };
    const bad = [silent.address, garbage.address, refused].sort();

    const before = await metadata();
    assert.ok(before.global_epoch < 42, `the epoch starts below the proxies' (${before.global_epoch})`);
    let answer = await broker.call('PUT', '/epoch/recovery');
    assert.equal(answer.status, 200, answer.text);
    const body = answer.json<{ failed_addresses: string[] }>();
    assert.deepEqual(Object.keys(body), ['failed_addresses']);
    assert.deepEqual(body.failed_addresses.slice().sort(), bad);
    let after = await metadata();
    assert.equal(after.global_epoch, 43, 'largest answer + 1');
    assert.deepEqual(
      Object.entries(after.clusters).map(([n, c]) => [n, c.epoch]),
      [
        ['alpha', 43],
        ['beta', 43],
      ],
    );
    for (const f of [answers42, answers7, silent, garbage]) assert.equal(f.asked, 1, `${f.address} was asked once`);

    // Now the broker is ahead of every proxy: global + 1 wins.
    answer = await broker.call('PUT', '/epoch/100');
    assert.equal(answer.status, 200, answer.text);
    answer = await broker.call('PUT', '/epoch/recovery');
    assert.equal(answer.status, 200, answer.text);
    assert.deepEqual(answer.json<{ failed_addresses: string[] }>().failed_addresses.slice().sort(), bad);
    after = await metadata();
    assert.equal(after.global_epoch, 101, 'global epoch + 1');
    assert.deepEqual(
      Object.entries(after.clusters).map(([n, c]) => [n, c.epoch]),
      [
        ['alpha', 101],
        ['beta', 101],
      ],
    );
  },
);
