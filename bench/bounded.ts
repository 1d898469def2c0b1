/**
 * Bounded work per request, as figures: against a broker child process,
 * (0) the restore's consistency check on 16,000 migrations, in process;
 * (1) a failure report's cost with 10 and with 20,000 reporters on one
 * proxy, and the store's report count after them; (2) the longest wait of a
 * parallel client polling during a large restore, the restore's time and
 * the broker's peak memory; (3) two concurrent large restores: the second
 * is refused at once; (4) eight concurrent 200 MiB restores on a fresh
 * broker: every upload answered, and its peak memory. Loopback only.
 *
 * `make bench` runs it with a 256 MiB restore and writes
 * bench/results/bounded.md; alone: `node dist/bench/bounded.js [MiB, default 64]`.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { checkMetadata } from '../src/domain/check.js';
import { storeFromDocument } from '../src/domain/store.js';
import { freeProxiesDocument, manyMigrations } from '../test/helpers/documents.js';
import { startBroker } from './processes.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A valid document of about `mib` MiB: free proxies, about 150 bytes each. */
export function restoreDocument(mib: number): Buffer {
  return freeProxiesDocument(Math.floor((mib * 1024 * 1024) / 151));
}

export interface BoundedBenchResult {
  /** checkMetadata on one cluster with 16,000 migrations (the restore's consistency check). */
  checkMsAt16000Migrations: number;
  reportMsAt10: number;
  reportMsAt20000: number;
  reportersKept: number;
  restoreMiB: number;
  restoreSeconds: number;
  /**
   * A client polling GET /clusters/names every 5 ms, from the restore's
   * start to 3 s after its answer: its longest wait, its p99, and its
   * longest wait after the answer (when the new store is served).
   */
  pollWorstMs: number;
  pollP99Ms: number;
  pollWorstAfterSwapMs: number;
  /** The same for a route the HTTP thread answers alone (no route: 404): the HTTP thread's longest stall. */
  httpThreadWorstMs: number;
  peakRssMiB: number;
  /** Status of a second restore sent while the first is in flight. */
  secondRestoreStatus: number;
}

export async function runBoundedBench(restoreMiB = 64): Promise<BoundedBenchResult> {
  const migrations = storeFromDocument(manyMigrations(16_000));
  const checkStarted = performance.now();
  if (checkMetadata(migrations).length > 0) throw new Error('the migrations document is inconsistent');
  const checkMsAt16000Migrations = performance.now() - checkStarted;
  const broker = await startBroker({ UNDERMOON_FAILURE_TTL: '100000' });
  const api = `http://127.0.0.1:${broker.port}/api/v2`;
  try {
    const address = '10.255.0.1:1';
    await fetch(`${api}/proxies/meta`, {
      method: 'POST',
      body: JSON.stringify({ proxy_address: address, nodes: ['n:1', 'n:2'] }),
    });
    // Mean time of 200 reports, sequential, after `count` distinct reporters.
    const timeReports = async (from: number): Promise<number> => {
      const started = performance.now();
      for (let i = 0; i < 200; i++) await fetch(`${api}/failures/${address}/t${from}-${i}`, { method: 'POST' });
      return (performance.now() - started) / 200;
    };
    let reporters = 0;
    const report = async (upTo: number) => {
      const batch: Promise<Response>[] = [];
      for (; reporters < upTo; reporters++) {
        batch.push(fetch(`${api}/failures/${address}/r${reporters}`, { method: 'POST' }));
        if (batch.length >= 64) await Promise.all(batch.splice(0));
      }
      await Promise.all(batch);
    };
    await report(10);
    const reportMsAt10 = await timeReports(10);
    await report(20_000);
    const reportMsAt20000 = await timeReports(20_000);
    const doc = (await (await fetch(`${api}/metadata`)).json()) as { failures: Record<string, Record<string, number>> };
    const reportersKept = Object.keys(doc.failures[address] ?? {}).length;

    const body = restoreDocument(restoreMiB);
    let done = false;
    let answeredAt = Infinity;
    const poll = async (path: string): Promise<{ worst: number; p99: number; worstAfter: number }> => {
      const waits: number[] = [];
      let worstAfter = 0;
      for (let first = true; !done; first = false) {
        const started = performance.now();
        await (await fetch(`${api}${path}`)).text();
        const waited = performance.now() - started;
        if (!first) waits.push(waited);
        if (started >= answeredAt) worstAfter = Math.max(worstAfter, waited);
        await sleep(5);
      }
      waits.sort((a, b) => a - b);
      return { worst: waits.at(-1) ?? 0, p99: waits[Math.floor(waits.length * 0.99)] ?? 0, worstAfter };
    };
    const pollers = Promise.all([poll('/clusters/names'), poll('/nosuch')]);
    // The pollers' first requests (connection, client start-up) are not the broker's.
    await sleep(500);
    const started = performance.now();
    const restore = fetch(`${api}/metadata`, { method: 'PUT', body });
    // Long enough for the first upload to be under way: the second must come after it.
    await sleep(1000);
    const second = await fetch(`${api}/metadata`, { method: 'PUT', body: '{}' });
    const answer = await restore;
    answeredAt = performance.now();
    const restoreSeconds = (answeredAt - started) / 1000;
    await sleep(3000);
    done = true;
    const [names, http] = await pollers;
    if (answer.status !== 200) throw new Error(`restore answered ${answer.status}: ${await answer.text()}`);
    return {
      checkMsAt16000Migrations,
      reportMsAt10,
      reportMsAt20000,
      reportersKept,
      restoreMiB: body.length / (1024 * 1024),
      restoreSeconds,
      pollWorstMs: names.worst,
      pollP99Ms: names.p99,
      pollWorstAfterSwapMs: names.worstAfter,
      httpThreadWorstMs: http.worst,
      peakRssMiB: broker.peakRss() / (1024 * 1024),
      secondRestoreStatus: second.status,
    };
  } finally {
    await broker.stop();
  }
}

export interface ConcurrentRestoresResult {
  readonly uploads: number;
  readonly mibEach: number;
  /** Answers by status and code, e.g. `200`, `503 RESTORE_IN_PROGRESS`; a connection closed without one is `none`. */
  readonly answers: Record<string, number>;
  readonly peakRssMiB: number;
}

/** Concurrent large restores on a fresh broker: each must get a status, and memory must stay bounded. */
export async function runConcurrentRestores(uploads = 8, mibEach = 200): Promise<ConcurrentRestoresResult> {
  const broker = await startBroker();
  try {
    const body = restoreDocument(mibEach);
    const api = `http://127.0.0.1:${broker.port}/api/v2`;
    const outcomes = await Promise.all(
      Array.from({ length: uploads }, async () => {
        try {
          const res = await fetch(`${api}/metadata`, { method: 'PUT', body });
          const text = await res.text();
          const code = res.status === 200 ? '' : ((JSON.parse(text) as { error?: string }).error ?? '');
          return code === '' ? String(res.status) : `${res.status} ${code}`;
        } catch {
          return 'none';
        }
      }),
    );
    const answers: Record<string, number> = {};
    for (const o of outcomes) answers[o] = (answers[o] ?? 0) + 1;
    return { uploads, mibEach: body.length / (1024 * 1024), answers, peakRssMiB: broker.peakRss() / (1024 * 1024) };
  } finally {
    await broker.stop();
  }
}

function fmt(n: number): string {
  return n >= 100 ? n.toFixed(0) : n.toFixed(2);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const mib = Number(process.argv[2] ?? 64);
  const result = await runBoundedBench(mib);
  const concurrent = await runConcurrentRestores();
  console.log(JSON.stringify({ ...result, concurrent }, null, 2));
  const rows: [string, string, string][] = [
    ['restore consistency check, 16,000 migrations', `${fmt(result.checkMsAt16000Migrations)} ms`, 'linear'],
    ['failure report round trip, 10 reporters on the proxy', `${fmt(result.reportMsAt10)} ms`, ''],
    ['failure report round trip, 20,000 reporters sent', `${fmt(result.reportMsAt20000)} ms`, 'flat'],
    ['reporters kept for that proxy', String(result.reportersKept), '<= 1,024'],
    [`restore of ${fmt(result.restoreMiB)} MiB, answered after`, `${fmt(result.restoreSeconds)} s`, ''],
    ['poller (GET every 5 ms) during it and 3 s after, p99', `${fmt(result.pollP99Ms)} ms`, '< 10 ms'],
    ['... longest wait', `${fmt(result.pollWorstMs)} ms`, ''],
    ['... longest wait once the new store is served', `${fmt(result.pollWorstAfterSwapMs)} ms`, ''],
    ['HTTP thread alone (404 route), longest wait', `${fmt(result.httpThreadWorstMs)} ms`, ''],
    ['peak resident memory, whole broker, that restore', `${fmt(result.peakRssMiB)} MiB`, 'stated in README'],
    ['a second restore meanwhile', String(result.secondRestoreStatus), '503 at once'],
    [
      `${concurrent.uploads} concurrent ${fmt(concurrent.mibEach)} MiB restores, answers`,
      Object.entries(concurrent.answers)
        .map(([k, v]) => `${v} x ${k}`)
        .join(', '),
      'every upload answered',
    ],
    ['... peak resident memory, whole broker', `${fmt(concurrent.peakRssMiB)} MiB`, ''],
  ];
  const dir = fileURLToPath(new URL('../../bench/results/', import.meta.url));
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, 'bounded.json'),
    `${JSON.stringify({ date: new Date().toISOString(), result, concurrent }, null, 2)}\n`,
  );
  writeFileSync(
    join(dir, 'bounded.md'),
    `# Bounded work per request, ${new Date().toISOString()}\n\n` +
      `| figure | value | target |\n|---|---|---|\n${rows.map((r) => `| ${r.join(' | ')} |`).join('\n')}\n`,
  );
}
