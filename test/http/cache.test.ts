import assert from 'node:assert/strict';
import { test } from 'node:test';
import { call, okJson, startThreadedTestServer } from '../helpers/http.js';

interface ClusterAnswer {
  cluster: { epoch: number; config: { compression_strategy: string }; nodes: { proxy_address: string }[] };
}
interface ProxyAnswer {
  proxy: { epoch: number; nodes: unknown[]; free_nodes: string[] };
}

test('cached answers: every read after a write answer sees it, over HTTP and the threaded backend', async (t) => {
  const s = await startThreadedTestServer();
  t.after(() => s.close());
  for (let h = 1; h <= 3; h++) {
    for (let i = 1; i <= 2; i++) {
      assert.equal(
        (
          await call(s, 'POST', '/proxies/meta', {
            proxy_address: `127.0.0.${h}:700${i}`,
            nodes: [`127.0.0.${h}:600${i}`, `127.0.0.${h}:610${i}`],
          })
        ).status,
        200,
      );
    }
  }
  assert.equal((await call(s, 'POST', '/clusters/meta/c1', { node_number: 4 })).status, 200);
  for (let round = 0; round < 6; round++) {
    // Twice each: the second answer comes from the front end's cache.
    const before = (await okJson(s, 'GET', '/clusters/meta/c1')) as ClusterAnswer;
    assert.deepEqual(await okJson(s, 'GET', '/clusters/meta/c1'), before);
    const strategy = round % 2 === 0 ? 'allow_all' : 'set_get_only';
    assert.equal((await call(s, 'PATCH', '/clusters/config/c1', { compression_strategy: strategy })).status, 200);
    const after = (await okJson(s, 'GET', '/clusters/meta/c1')) as ClusterAnswer;
    assert.equal(after.cluster.config.compression_strategy, strategy);
    assert.ok(after.cluster.epoch > before.cluster.epoch);
    // A member proxy's view moves with its cluster; a free one's with the global epoch.
    const member = (await okJson(s, 'GET', `/proxies/meta/${after.cluster.nodes[0]!.proxy_address}`)) as ProxyAnswer;
    assert.equal(member.proxy.epoch, after.cluster.epoch);
    const metadata = (await okJson(s, 'GET', '/metadata')) as {
      global_epoch: number;
      all_proxies: Record<string, { cluster: string | null }>;
    };
    const free = Object.keys(metadata.all_proxies).find((a) => metadata.all_proxies[a]!.cluster === null)!;
    const freeView = (await okJson(s, 'GET', `/proxies/meta/${free}`)) as ProxyAnswer;
    assert.equal(freeView.proxy.epoch, metadata.global_epoch);
    await okJson(s, 'GET', `/proxies/meta/${free}`);
  }
  // Listings follow additions and removals.
  assert.deepEqual(await okJson(s, 'GET', '/clusters/names'), { names: ['c1'] });
  assert.equal((await call(s, 'POST', '/clusters/meta/c0', { node_number: 4 })).status, 200);
  assert.deepEqual(await okJson(s, 'GET', '/clusters/names'), { names: ['c0', 'c1'] });
  assert.equal((await call(s, 'DELETE', '/clusters/meta/c1')).status, 200);
  assert.deepEqual(await okJson(s, 'GET', '/clusters/names'), { names: ['c0'] });
  assert.deepEqual(await okJson(s, 'GET', '/clusters/meta/c1'), { cluster: null });
});
