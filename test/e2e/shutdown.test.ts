/**
 * Orderly stop: SIGTERM while writes are in flight. The broker stops
 * accepting, answers every write it had accepted, flushes the metadata file
 * and exits 0. A write is either answered (2xx or an ordinary error code)
 * or, if its connection was cut, was never applied: a write that made it
 * into the file was always answered.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Agent, request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { test } from 'node:test';
import { request, startBroker, tempDir } from '../helpers/broker-process.js';
import type { HttpAnswer } from '../helpers/broker-process.js';

const WRITES = 60;
/** SIGTERM goes out once this many writes are answered, so the rest are still in flight. */
const SIGNAL_AFTER = 15;

function proxy(i: number): { proxy_address: string; nodes: [string, string] } {
  return {
    proxy_address: `127.0.3.${1 + (i % 3)}:${10000 + i}`,
    nodes: [`127.0.3.9:${20000 + 2 * i}`, `127.0.3.9:${20001 + 2 * i}`],
  };
}

/**
 * A write whose body is sent in two parts: the broker has its headers (and
 * is reading the body) before the signal, and the rest arrives after it.
 */
function slowWrite(origin: string, body: string): { finish: () => void; answer: Promise<HttpAnswer> } {
  const bytes = Buffer.from(body);
  let req!: ReturnType<typeof httpRequest>;
  const answer = new Promise<HttpAnswer>((resolve, reject) => {
    const timer = setTimeout(() => {
      reject(new Error('the slow write got no answer within 15 s'));
      req.destroy();
    }, 15_000);
    req = httpRequest(
      `${origin}/api/v2/proxies/meta`,
      { method: 'POST', agent: false, headers: { 'Content-Type': 'application/json', 'Content-Length': bytes.length } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          clearTimeout(timer);
          const text = Buffer.concat(chunks).toString('utf8');
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json: <T>() => JSON.parse(text) as T });
        });
      },
    );
    req.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    req.write(bytes.subarray(0, 10));
  });
  return { finish: () => req.end(bytes.subarray(10)), answer };
}

const settle = <T>(p: Promise<T>) =>
  p.then(
    (value) => ({ value, error: null }),
    (error: unknown) => ({ value: null, error }),
  );

// Tools open a connection per request; coordinators keep a few open.
for (const mode of ['a connection per write', 'keep-alive connections'] as const) {
  test(
    `shutdown (${mode}): SIGTERM with writes in flight answers the accepted ones, keeps them on disk and exits 0`,
    { timeout: 60_000 },
    async (t) => {
      const metaFile = join(tempDir(), 'metadata');
      const env = { UNDERMOON_AUTO_UPDATE_META_FILE: 'true', UNDERMOON_META_FILENAME: metaFile };
      const broker = await startBroker({ env });
      t.after(() => broker.kill());
      const agent = mode === 'keep-alive connections' ? new Agent({ keepAlive: true, maxSockets: 8 }) : undefined;
      t.after(() => agent?.destroy());

      const slow = slowWrite(broker.origin, JSON.stringify(proxy(WRITES)));
      // A full answer after the slow write's first bytes: the broker has been reading its socket since.
      assert.equal((await broker.call('POST', '/proxies/meta', proxy(WRITES + 1))).status, 200);

      let answered = 0;
      let signalled = false;
      let answeredAfterSignal = 0;
      const sent = Array.from({ length: WRITES }, (_, i) =>
        settle(
          broker.call('POST', '/proxies/meta', proxy(i), agent ? { agent } : {}).then((a) => {
            if (signalled) answeredAfterSignal += 1;
            else if (++answered === SIGNAL_AFTER) {
              signalled = true;
              broker.child.kill('SIGTERM');
              // The rest of the slow body goes once the broker has taken the signal.
              void broker
                .waitForLog(
                  (l) => typeof l.msg === 'string' && l.msg.startsWith('stopping'),
                  15_000,
                  'the stopping line',
                )
                .then(slow.finish, slow.finish);
            }
            return a;
          }),
        ),
      );
      const outcomes = await Promise.all(sent);
      assert.ok(signalled, `the signal went out after ${SIGNAL_AFTER} answers; ${broker.describe()}`);
      // New connections after the signal are refused or answered with an ordinary error.
      const late = await settle(
        request(broker.origin, 'POST', '/api/v2/proxies/meta', proxy(WRITES + 2), { timeoutMs: 5_000 }),
      );
      const slowOutcome = await settle(slow.answer);

      const exit = await broker.waitForExit(15_000);
      assert.deepEqual(exit, { code: 0, signal: null }, broker.describe());
      assert.ok(
        broker.logs.some((l) => l.msg === 'stopped'),
        broker.describe(),
      );

      const onDisk = JSON.parse(readFileSync(metaFile, 'utf8')) as { all_proxies: Record<string, unknown> };
      const all = [...outcomes.map((o, i) => ({ o, i })), { o: slowOutcome, i: WRITES }, { o: late, i: WRITES + 2 }];
      let ok = 0;
      let cut = 0;
      for (const { o, i } of all) {
        const address = proxy(i).proxy_address;
        const stored = Object.hasOwn(onDisk.all_proxies, address);
        if (o.value === null) {
          cut += 1;
          assert.ok(!stored, `write ${i} was applied but its connection was dropped (${String(o.error)})`);
          continue;
        }
        const { status, text } = o.value;
        if (status === 200) {
          ok += 1;
          assert.ok(stored, `write ${i} was answered 200 but is not in the file`);
        } else {
          // An ordinary error is a coded JSON answer (SERVICE_BUSY while stopping), and changes nothing.
          assert.ok((status >= 400 && status < 500) || status === 503, `write ${i}: ${status} ${text}`);
          assert.equal(typeof o.value.json<{ error?: unknown }>().error, 'string', text);
          assert.ok(!stored, `write ${i} failed with ${status} but was applied`);
        }
      }
      assert.equal(
        slowOutcome.value?.status,
        200,
        `the write being read at the signal is answered: ${String(slowOutcome.error)}`,
      );
      assert.ok(ok >= SIGNAL_AFTER + 1);
      console.log(
        `shutdown (${mode}): ${all.length} writes, ${ok} answered 200 (${answeredAfterSignal} of them after SIGTERM), ${cut} cut off unapplied, exit 0`,
      );

      // The flushed file is a whole document: a broker recovers from it.
      const again = await startBroker({ env: { ...env, UNDERMOON_RECOVER_FROM_META_FILE: 'true' } });
      try {
        assert.deepEqual((await again.call('GET', '/metadata')).json(), onDisk);
      } finally {
        await again.kill();
      }
    },
  );
}
