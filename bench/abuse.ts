/**
 * Abusive clients against the broker (a child process, as in production):
 * a coordinator-like poller's p99 latency, quiet and then while thousands
 * of idle connections, byte-a-time request heads, trickled bodies and
 * clients vanishing mid-body press on the server. Loopback only; about
 * 15 s. The functional side (every answer right, the right connections
 * cut) is test/http/abuse.test.ts.
 *
 * Run alone: `node dist/bench/abuse.js`.
 */
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { destroyAll, openFileLimit, openIdle, slowBody, slowHead, vanish } from '../test/helpers/abusers.js';
import type { Watched } from '../test/helpers/abusers.js';
import { HttpClient, quantile } from './http-client.js';
import { startBroker } from './processes.js';

const QUIET_SECONDS = 5;
/** Shorter than uWS's idle timeout (8 to 14 s), so the idle connections stay open throughout. */
const ABUSED_SECONDS = 6;
const BODY_TIMEOUT_SECONDS = 1;
const SLOW_HEADS = 50;
/** Trickled bodies kept open at once; each one cut off is replaced. */
const SLOW_BODIES = 50;
/** Clients vanishing mid-body per second. */
const VANISHING_PER_SECOND = 100;
/** This process holds one descriptor per client (the broker holds the other end). */
const IDLE = Math.max(0, Math.min(2000, openFileLimit() - 512 - SLOW_HEADS - 2 * SLOW_BODIES));

export interface AbuseBenchResult {
  quietP99Ms: number;
  abusedP99Ms: number;
  idleConnections: number;
  /** Byte-a-time heads plus trickled bodies, replacements included. */
  slowClients: number;
  vanished: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls the paths in turn, one request at a time, for `seconds`; the latency of each, in ms. */
async function poll(client: HttpClient, paths: readonly string[], seconds: number): Promise<number[]> {
  const latencies: number[] = [];
  const end = performance.now() + seconds * 1000;
  while (performance.now() < end) {
    for (const path of paths) {
      const started = performance.now();
      const res = await client.get(path);
      latencies.push(performance.now() - started);
      if (res.status !== 200) throw new Error(`poll ${path}: ${res.status} ${res.body.slice(0, 200)}`);
    }
  }
  return latencies;
}

export async function runAbuseBench(): Promise<AbuseBenchResult> {
  const broker = await startBroker({ UNDERMOON_IDLE_TIMEOUT_SECONDS: String(BODY_TIMEOUT_SECONDS) });
  const client = new HttpClient(broker.port, 1);
  const abusers: Watched[] = [];
  let stopping = false;
  try {
    // A small fleet: 8 hosts of 4 proxies, a cluster of 16 nodes.
    for (let h = 1; h <= 8; h++) {
      for (let i = 1; i <= 4; i++) {
        const res = await client.request(
          'POST',
          '/api/v2/proxies/meta',
          JSON.stringify({
            proxy_address: `127.0.1.${h}:${7000 + i}`,
            nodes: [`127.0.1.${h}:${6000 + 2 * i}`, `127.0.1.${h}:${6001 + 2 * i}`],
          }),
        );
        if (res.status !== 200) throw new Error(`seeding: ${res.status} ${res.body}`);
      }
    }
    const created = await client.request('POST', '/api/v2/clusters/meta/bench', JSON.stringify({ node_number: 16 }));
    if (created.status !== 200) throw new Error(`seeding: ${created.status} ${created.body}`);
    const paths = ['/api/v2/clusters/meta/bench', ...[1, 2, 3, 4].map((h) => `/api/v2/proxies/meta/127.0.1.${h}:7001`)];

    const quiet = await poll(client, paths, QUIET_SECONDS);

    const port = broker.port;
    abusers.push(...(await openIdle(port, IDLE)));
    abusers.push(
      ...(await Promise.all(
        Array.from({ length: SLOW_HEADS }, () => slowHead(port, '/api/v2/clusters/meta/bench', 200)),
      )),
    );
    let slowClients = SLOW_HEADS;
    const startSlowBody = async (): Promise<void> => {
      if (stopping) return;
      slowClients += 1;
      // Cut off after the body timeout; a new one takes its place.
      abusers.push(await slowBody(port, '/api/v2/proxies/meta', 200, () => void startSlowBody().catch(() => {})));
    };
    await Promise.all(Array.from({ length: SLOW_BODIES }, startSlowBody));
    let vanished = 0;
    const vanishing = (async () => {
      while (!stopping) {
        await Promise.all(
          Array.from({ length: VANISHING_PER_SECOND / 10 }, () => vanish(port, '/api/v2/proxies/meta').catch(() => {})),
        );
        vanished += VANISHING_PER_SECOND / 10;
        await sleep(100);
      }
    })();

    const abused = await poll(client, paths, ABUSED_SECONDS);
    stopping = true;
    await vanishing;
    return {
      quietP99Ms: quantile(quiet, 0.99),
      abusedP99Ms: quantile(abused, 0.99),
      idleConnections: IDLE,
      slowClients,
      vanished,
    };
  } finally {
    stopping = true;
    destroyAll(abusers);
    client.close();
    await broker.stop();
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  runAbuseBench().then(
    (result) => console.log(JSON.stringify(result)),
    (err: unknown) => {
      console.error(err);
      process.exitCode = 1;
    },
  );
}
