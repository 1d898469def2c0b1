/**
 * What an operator sees of a running broker: the start line with the
 * effective configuration, one JSON line per write, no consistency
 * complaints in debug mode after ordinary writes, and the Prometheus
 * metrics of requests, publication, the metadata file and replication.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { proxyBody, startBroker, tempDir } from '../helpers/broker-process.js';
import { deadAddress } from '../helpers/ports.js';
import type { LogLine } from '../helpers/broker-process.js';

const TOKEN = 'obs-secret-token-4f1c';

/** The value of the sample `name` whose labels include every pair of `labels`, or undefined. */
function sample(exposition: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of exposition.split('\n')) {
    if (line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const text = m[3] ?? '';
    if (Object.entries(labels).every(([k, v]) => text.includes(`${k}="${v}"`))) return Number(m[4]);
  }
  return undefined;
}

test(
  'observability: start line, one line per write, a quiet consistency check and the metrics',
  { timeout: 60_000 },
  async (t) => {
    // Nothing listens on the replica port: every push fails.
    const replica = deadAddress();
    const broker = await startBroker({
      env: {
        UNDERMOON_DEBUG: 'true',
        UNDERMOON_API_TOKEN: TOKEN,
        UNDERMOON_AUTO_UPDATE_META_FILE: 'true',
        UNDERMOON_META_FILENAME: join(tempDir(), 'metadata'),
        UNDERMOON_REPLICA_ADDRESSES: replica,
        UNDERMOON_SYNC_META_INTERVAL: '1',
      },
    });
    t.after(() => broker.kill());

    const starting = broker.logs.find((l) => l.msg === 'starting');
    assert.ok(starting, broker.describe());
    const config = starting.config as Record<string, unknown>;
    assert.equal(config.api_token, '<redacted>');
    assert.equal(config.debug, true);
    assert.deepEqual(config.replica_addresses, [replica]);
    assert.equal(config.sync_meta_interval, 1);

    // An ordinary day: register proxies, make and grow a cluster, a report, a
    // config change; and one refused write. Reads in between are not logged.
    const expected: { method: string; route: string; status: number }[] = [];
    const send = async (method: string, path: string, route: string, status: number, body?: unknown) => {
      const answer = await broker.call(method, path, body, { token: TOKEN });
      assert.equal(answer.status, status, `${method} ${path}: ${answer.text}`);
      if (method !== 'GET') expected.push({ method, route: `/api/v2${route}`, status });
    };
    for (let i = 1; i <= 8; i++) await send('POST', '/proxies/meta', '/proxies/meta', 200, proxyBody(1 + (i % 4), i));
    await send('POST', '/clusters/meta/obs', '/clusters/meta/:name', 200, { node_number: 4 });
    await send('GET', '/clusters/meta/obs', '/clusters/meta/:name', 200);
    await send('PATCH', '/clusters/nodes/obs', '/clusters/nodes/:name', 200, { node_number: 4 });
    await send('PATCH', '/clusters/config/obs', '/clusters/config/:name', 200, {
      compression_strategy: 'set_get_only',
    });
    await send('POST', `/failures/${proxyBody(1, 4).proxy_address}/coordinator1`, '/failures/:address/:reporter', 200);
    await send('GET', '/failures', '/failures', 200);
    await send('POST', '/clusters/meta/obs', '/clusters/meta/:name', 409, { node_number: 4 });
    await send('POST', '/proxies/meta', '/proxies/meta', 200, proxyBody(9, 9));
    await send('DELETE', '/proxies/meta/127.0.0.9:10009', '/proxies/meta/:address', 200);
    await send('POST', '/clusters/migrations/expand/obs', '/clusters/migrations/expand/:name', 200);
    await send('GET', '/metadata', '/metadata', 200);

    // The line is written just after the answer; wait for the last one (bounded).
    const isRequest = (l: LogLine) => l.msg === 'request';
    await broker.waitForLog(
      () => broker.logs.filter(isRequest).length >= expected.length,
      5_000,
      `${expected.length} request lines`,
    );
    const lines = broker.logs.filter(isRequest);
    assert.deepEqual(
      lines.map((l) => ({ method: l.method, route: l.route, status: l.status })),
      expected,
      'one line per write, in order, none for reads',
    );
    for (const l of lines) assert.ok(typeof l.ms === 'number' && l.ms >= 0, `ms on ${JSON.stringify(l)}`);

    // A failed push, then its counter.
    const failure = await broker.waitForLog(
      (l) => l.replica === replica && /replication failed/.test(l.msg ?? ''),
      10_000,
      'replication failure line',
    );
    assert.equal(failure.level, 'warn');
    const answer = await broker.call('GET', '/metrics', undefined, { token: TOKEN });
    assert.equal(answer.status, 200, answer.text);
    assert.match(String(answer.headers['content-type']), /^text\/plain/);
    const text = answer.text;
    assert.equal(
      sample(text, 'http_requests_total', { route: '/api/v2/proxies/meta', method: 'POST', status: '200' }),
      9,
    );
    assert.equal(
      sample(text, 'http_requests_total', { route: '/api/v2/clusters/meta/:name', method: 'POST', status: '409' }),
      1,
    );
    assert.equal(
      sample(text, 'http_request_duration_seconds_count', { route: '/api/v2/proxies/meta', method: 'POST' }),
      9,
    );
    const writes = expected.filter((e) => e.status === 200).length;
    assert.ok((sample(text, 'snapshot_generation') ?? 0) >= writes, 'snapshot_generation counts the published writes');
    assert.ok((sample(text, 'snapshot_publish_seconds_count') ?? 0) >= writes, 'every published write is timed');
    assert.ok((sample(text, 'meta_file_write_seconds_count') ?? 0) >= writes, 'every persisted write is timed');
    assert.ok(
      (sample(text, 'replication_failures_total', { address: replica }) ?? 0) >= 1,
      'the failed push is counted',
    );

    // Debug mode checks the metadata after every write; ordinary writes never trip it.
    const complaints = broker.logs.filter(
      (l) => /inconsistent/.test(l.msg ?? '') || l.level === 'error' || l.level === 'fatal',
    );
    assert.deepEqual(complaints, []);
    assert.ok(
      !broker.stdoutText().includes(TOKEN) && !broker.stderrText().includes(TOKEN),
      'the token is never printed',
    );
  },
);
