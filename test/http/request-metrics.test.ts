/**
 * Request metrics are counted in plain numbers on the cached read path and
 * rendered at scrape time: the exposition must still match, per route,
 * method and status, exactly what was sent.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { startServer } from '../../src/http/server.js';
import { BrokerMetrics } from '../../src/metrics.js';
import { ThreadedBackend } from '../../src/rpc/threaded-backend.js';
import { threadedTestOptions } from '../helpers/http.js';

function sample(text: string, name: string, labels: Record<string, string>): number | null {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    const body = line.slice(name.length + 1, line.lastIndexOf('}'));
    const found = Object.fromEntries([...body.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
    const keys = Object.keys(found);
    if (keys.length === Object.keys(labels).length && keys.every((k) => found[k] === labels[k]))
      return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return null;
}

test('request metrics: counts and latency histograms per route and status match a known request mix', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'metabroker-metrics-'));
  const backend = await ThreadedBackend.start(threadedTestOptions(join(dir, 'metadata')));
  const metrics = new BrokerMetrics({ defaultMetrics: false });
  const server = await startServer({ backend, host: '127.0.0.1', port: 0, requestMetrics: metrics.requests });
  t.after(async () => {
    await server.close();
    await backend.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const api = `http://127.0.0.1:${server.port}/api/v2`;
  const send = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(api + path, { method, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
    await res.arrayBuffer();
    return res.status;
  };

  // route pattern, method, status -> how many were sent
  const expected = new Map<string, number>();
  const expect = async (n: number, pattern: string, method: string, status: number, path: string, body?: unknown) => {
    for (let i = 0; i < n; i++) assert.equal(await send(method, path, body), status, `${method} ${path}`);
    const key = `${pattern} ${method} ${status}`;
    expected.set(key, (expected.get(key) ?? 0) + n);
  };
  for (let i = 1; i <= 4; i++) {
    await expect(1, '/api/v2/proxies/meta', 'POST', 200, '/proxies/meta', {
      proxy_address: `127.0.0.${i}:7000`,
      nodes: [`127.0.0.${i}:6000`, `127.0.0.${i}:6001`],
    });
  }
  await expect(1, '/api/v2/clusters/meta/:name', 'POST', 200, '/clusters/meta/c1', { node_number: 4 });
  await expect(2, '/api/v2/clusters/meta/:name', 'POST', 409, '/clusters/meta/c1', { node_number: 4 });
  // Reads, most of them answered from the cache on uWS's native routes.
  await expect(25, '/api/v2/clusters/meta/:name', 'GET', 200, '/clusters/meta/c1');
  await expect(7, '/api/v2/clusters/meta/:name', 'GET', 200, '/clusters/meta/nope');
  await expect(30, '/api/v2/proxies/meta/:address', 'GET', 200, '/proxies/meta/127.0.0.2:7000');
  await expect(3, '/api/v2/proxies/meta/:address', 'GET', 400, '/proxies/meta/%zz');
  await expect(11, '/api/v2/clusters/names', 'GET', 200, '/clusters/names?offset=0&limit=10');
  await expect(9, '/api/v2/proxies/addresses', 'GET', 200, '/proxies/addresses');
  await expect(2, '/api/v2/proxies/addresses', 'GET', 400, '/proxies/addresses?limit=-1');
  await expect(1, '/api/v2/failures/:address/:reporter', 'POST', 200, '/failures/127.0.0.1:7000/r1');
  await expect(13, '/api/v2/failures', 'GET', 200, '/failures');
  await expect(6, '/api/v2/proxies/failed/addresses', 'GET', 200, '/proxies/failed/addresses');
  await expect(4, '*', 'GET', 404, '/no/such/route');
  await expect(2, '*', 'DELETE', 404, '/clusters/names');

  const text = await metrics.render();
  const byRouteMethod = new Map<string, number>();
  for (const [key, n] of expected) {
    const [route, method, status] = key.split(' ') as [string, string, string];
    assert.equal(sample(text, 'http_requests_total', { route, method, status }), n, `http_requests_total ${key}`);
    byRouteMethod.set(`${route} ${method}`, (byRouteMethod.get(`${route} ${method}`) ?? 0) + n);
  }
  const counted = text.split('\n').filter((l) => l.startsWith('http_requests_total{'));
  assert.equal(counted.length, expected.size, 'no other series');
  for (const [key, n] of byRouteMethod) {
    const [route, method] = key.split(' ') as [string, string];
    assert.equal(sample(text, 'http_request_duration_seconds_count', { route, method }), n, `count ${key}`);
    assert.equal(sample(text, 'http_request_duration_seconds_bucket', { le: '+Inf', route, method }), n, `+Inf ${key}`);
    const sum = sample(text, 'http_request_duration_seconds_sum', { route, method })!;
    assert.ok(sum > 0 && sum < n, `sum ${key}: ${sum}`);
    // Buckets are cumulative, never above the count.
    let previous = 0;
    for (const line of text.split('\n')) {
      if (
        !line.startsWith('http_request_duration_seconds_bucket{') ||
        !line.includes(`route="${route}",method="${method}"`)
      )
        continue;
      const value = Number(line.slice(line.lastIndexOf(' ') + 1));
      assert.ok(value >= previous && value <= n, line);
      previous = value;
    }
  }
  assert.match(text, /^# TYPE http_requests_total counter$/m);
  assert.match(text, /^# TYPE http_request_duration_seconds histogram$/m);
});
