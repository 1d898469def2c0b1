/**
 * Abusive clients against the real server (uWS + ThreadedBackend), while a
 * coordinator-like poller reads cluster and proxy views: thousands of idle
 * connections, request heads sent a byte at a time, bodies trickled, and
 * clients vanishing mid-body. Functional assertions only (every answer
 * right, none failed, the right connections closed at the right stage);
 * latency under abuse is measured by bench/abuse.ts, not here.
 *
 * What uWebSockets.js does, measured: a connection that is idle, or whose
 * request head is incomplete, is closed 10 s (its HTTP idle timeout, on a
 * 4 s timer tick: 8 to 14 s) after the last answer or the connect, however
 * slowly bytes keep coming. A body is the broker's business: cut off after
 * `bodyTimeoutSeconds`.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { addProxies, ok, proxyAddr, startThreadedTestServer } from '../helpers/http.js';
import type { TestServer } from '../helpers/http.js';
import { closedBy, destroyAll, openFileLimit, openIdle, slowBody, slowHead, vanish } from '../helpers/abusers.js';
import type { Watched } from '../helpers/abusers.js';

const BODY_TIMEOUT_SECONDS = 1;
const SLOW_HEADS = 50;
const SLOW_BODIES = 50;
const VANISHING = 200;
/** Each idle connection costs two descriptors here (client and server side); keep well under the limit. */
const IDLE = Math.max(0, Math.min(2000, Math.floor((openFileLimit() - 512) / 2) - SLOW_HEADS - SLOW_BODIES));

interface Poller {
  answers: number;
  /** Answers that differed from the view read before the abuse, and failed requests. */
  readonly wrong: string[];
  stop(): Promise<void>;
}

/** Sequential GETs over one keep-alive connection, as a coordinator polls, each checked against `expected`. */
function startPoller(s: TestServer, expected: ReadonlyMap<string, string>): Poller {
  let stopped = false;
  const poller: Poller = {
    answers: 0,
    wrong: [],
    stop: async () => {
      stopped = true;
      await loop;
    },
  };
  const loop = (async () => {
    while (!stopped) {
      for (const [path, body] of expected) {
        try {
          const res = await fetch(s.api + path);
          const text = await res.text();
          if (res.status !== 200 || text !== body) poller.wrong.push(`${path}: ${res.status} ${text.slice(0, 200)}`);
        } catch (err) {
          poller.wrong.push(`${path}: ${String(err)}`);
        }
        poller.answers += 1;
      }
    }
  })();
  return poller;
}

const seconds = (w: Watched) => (w.closedAt! - w.openedAt) / 1000;

test(
  `abuse: ${IDLE} idle connections, ${SLOW_HEADS} byte-a-time heads, ${SLOW_BODIES} trickled bodies and ${VANISHING} vanishing clients; the poller is always answered right`,
  { timeout: 90_000 },
  async (t) => {
    assert.ok(IDLE >= 100, `the open file limit (${openFileLimit()}) leaves room for idle connections`);
    const s = await startThreadedTestServer({ bodyTimeoutSeconds: BODY_TIMEOUT_SECONDS });
    const abusers: Watched[] = [];
    let closed = false;
    t.after(async () => {
      destroyAll(abusers);
      if (!closed) await s.close();
    });
    const port = s.server.port;

    await addProxies(s, 3, 2);
    await ok(s, 'POST', '/clusters/meta/db', { node_number: 8 });
    const paths = [
      '/clusters/meta/db',
      ...[1, 2, 3].flatMap((h) => [1, 2].map((i) => `/proxies/meta/${proxyAddr(h, i)}`)),
    ];
    const expected = new Map<string, string>();
    for (const path of paths) expected.set(path, await (await fetch(s.api + path)).text());
    const postsBefore = s.requests.filter((r) => r.route === '/api/v2/proxies/meta').length;
    const poller = startPoller(s, expected);

    const idle = await openIdle(port, IDLE);
    abusers.push(...idle);
    const heads = await Promise.all(
      Array.from({ length: SLOW_HEADS }, () => slowHead(port, '/api/v2/clusters/meta/db', 200)),
    );
    abusers.push(...heads);
    const bodies = await Promise.all(
      Array.from({ length: SLOW_BODIES }, () => slowBody(port, '/api/v2/proxies/meta', 200)),
    );
    abusers.push(...bodies);
    for (let i = 0; i < VANISHING; i += 20)
      await Promise.all(Array.from({ length: 20 }, () => vanish(port, '/api/v2/proxies/meta')));

    // Trickled bodies: cut off by the body timeout, unanswered, long before uWS's idle timeout would.
    await closedBy(bodies, performance.now() + 8_000);
    for (const w of bodies) {
      assert.notEqual(w.closedAt, null, 'a trickled body is cut off');
      assert.ok(
        seconds(w) >= BODY_TIMEOUT_SECONDS * 0.9 && seconds(w) < 6,
        `cut off after ${seconds(w)} s, about the body timeout of ${BODY_TIMEOUT_SECONDS} s`,
      );
      assert.equal(w.received, 0, 'no answer to a body that never arrived');
    }

    // Idle connections and byte-a-time heads: closed by uWS's idle timeout, not before, unanswered.
    const lingering = [...idle, ...heads];
    await closedBy(lingering, Math.min(...lingering.map((w) => w.openedAt)) + 25_000);
    const stillOpen = lingering.filter((w) => w.closedAt === null).length;
    assert.equal(
      stillOpen,
      0,
      `${stillOpen} of ${lingering.length} idle or slow-head connections still open after 25 s`,
    );
    const times = lingering.map(seconds);
    assert.ok(
      Math.min(...times) >= 5 && Math.max(...times) <= 20,
      `closed between ${Math.min(...times)} and ${Math.max(...times)} s, around uWS's 10 s idle timeout`,
    );
    assert.ok(
      lingering.every((w) => w.received === 0),
      'nothing was answered to an incomplete head',
    );

    await poller.stop();
    assert.deepEqual(poller.wrong, [], 'every poll was answered, and right');
    assert.ok(poller.answers >= paths.length, `the poller ran through the abuse (${poller.answers} answers)`);
    t.diagnostic(`poller answers during the abuse: ${poller.answers}; idle connections ${IDLE}`);

    // The abusers' requests never reached a reply: the aborted and timed-out bodies are not reported.
    assert.equal(s.requests.filter((r) => r.route === '/api/v2/proxies/meta').length, postsBefore);
    assert.equal(await (await fetch(`${s.api}/version`)).text(), '0.3.0', 'the server still answers');
    // close() waits for the requests in flight: it would hang if an abandoned body were still counted.
    const done = await Promise.race([
      s.close().then(() => 'closed'),
      new Promise((resolve) => setTimeout(resolve, 10_000, 'hung').unref()),
    ]);
    closed = true;
    assert.equal(done, 'closed', 'close() finishes: no abandoned request is still in flight');
  },
);
