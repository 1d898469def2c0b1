import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { createLogger } from '../../src/log.js';
import { BrokerMetrics, getMetrics, METRICS_CONTENT_TYPE, renderMetrics } from '../../src/metrics.js';

test('BrokerMetrics: observations show up in the exposition text', async () => {
  const metrics = new BrokerMetrics({ defaultMetrics: false });
  metrics.observeRequest('/api/v2/clusters/meta/:name', 'GET', 200, 0.0004);
  metrics.observeRequest('/api/v2/clusters/meta/:name', 'GET', 200, 0.0006);
  metrics.observeRequest('/api/v2/proxies/meta', 'POST', 409, 0.002);
  metrics.setSnapshotGeneration(17);
  metrics.observeSnapshotPublish(0.0002);
  metrics.observeMetaFileWrite(0.004);
  metrics.countMetaFileWriteFailure();
  metrics.countReplicationFailure('10.0.0.2:7799');
  metrics.countReplicationFailure('10.0.0.2:7799');

  const text = await metrics.render();
  assert.match(text, /^http_requests_total\{route="\/api\/v2\/clusters\/meta\/:name",method="GET",status="200"\} 2$/m);
  assert.match(text, /^http_requests_total\{route="\/api\/v2\/proxies\/meta",method="POST",status="409"\} 1$/m);
  assert.match(
    text,
    /^http_request_duration_seconds_count\{route="\/api\/v2\/clusters\/meta\/:name",method="GET"\} 2$/m,
  );
  assert.match(text, /^snapshot_generation 17$/m);
  assert.match(text, /^snapshot_publish_seconds_count 1$/m);
  assert.match(text, /^meta_file_write_seconds_count 1$/m);
  assert.match(text, /^meta_file_write_failures_total 1$/m);
  assert.match(text, /^replication_failures_total\{address="10.0.0.2:7799"\} 2$/m);
  assert.doesNotMatch(text, /process_cpu/, 'process metrics only when asked for');
  assert.match(metrics.contentType, /^text\/plain/);
});

test('renderMetrics: the shared instance includes process metrics', async () => {
  getMetrics().setSnapshotGeneration(3);
  const text = await renderMetrics();
  assert.match(text, /^snapshot_generation 3$/m);
  assert.match(text, /^process_cpu_user_seconds_total /m);
  assert.match(text, /^nodejs_eventloop_lag_seconds /m);
  assert.equal(METRICS_CONTENT_TYPE, getMetrics().contentType);
});

test('createLogger: JSON lines with a textual level, info by default and debug on request', () => {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(
        ...chunk
          .toString('utf8')
          .split('\n')
          .filter((l) => l !== ''),
      );
      done();
    },
  });
  const info = createLogger({ debug: false }, sink);
  info.debug('hidden');
  info.info({ clusters: 2 }, 'started');
  createLogger({ debug: true }, sink).debug('shown');
  assert.equal(lines.length, 2);
  const first = JSON.parse(lines[0]!) as Record<string, unknown>;
  assert.equal(first.level, 'info');
  assert.equal(first.msg, 'started');
  assert.equal(first.clusters, 2);
  assert.equal(first.pid, process.pid);
  assert.match(String(first.time), /^\d{4}-\d{2}-\d{2}T/);
  assert.equal((JSON.parse(lines[1]!) as Record<string, unknown>).level, 'debug');
});
