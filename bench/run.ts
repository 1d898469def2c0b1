/**
 * `make bench`: every figure of README.md#benchmarks, each against a
 * baseline measured in the same run, printed as a table and written to
 * bench/results/latest.{json,md}. Loads are bounded in time and count and
 * go to 127.0.0.1 only.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { storeToDocument } from '../src/domain/store.js';
import { runAbuseBench } from './abuse.js';
import { runApplyBench } from './apply.js';
import { buildFleet, clusterNameOf, LARGE, SMALL } from './fixtures.js';
import type { FleetShape } from './fixtures.js';
import { autocannonLoad, wrkInstalled, wrkLoad, WRK } from './generators.js';
import type { LoadResult, Target } from './generators.js';
import { HttpClient, median, quantile, runAll } from './http-client.js';
import { startBaseline, startBroker } from './processes.js';
import type { Child } from './processes.js';

const DURATION = Number(process.env.BENCH_SECONDS ?? 3);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 32);
/** autocannon worker threads: on 2 cores, more only take CPU from the server. */
const WORKERS = Number(process.env.BENCH_WORKERS ?? 2);
const HAS_WRK = wrkInstalled() && process.env.BENCH_NO_WRK === undefined;

interface Row {
  figure: string;
  value: number;
  baseline: number | null;
  ratio: number | null;
  unit: string;
  target: string;
  met: boolean | null;
}
const rows: Row[] = [];
const notes: string[] = [];

function row(
  figure: string,
  value: number,
  baseline: number | null,
  unit: string,
  target: string,
  met: (ratio: number | null, value: number) => boolean | null,
): void {
  const ratio = baseline === null || baseline === 0 ? null : value / baseline;
  rows.push({ figure, value, baseline, ratio, unit, target, met: met(ratio, value) });
  console.log(
    `  ${figure}: ${fmt(value)} ${unit}${baseline === null ? '' : ` vs ${fmt(baseline)} (ratio ${ratio?.toFixed(3)})`}`,
  );
}

function fmt(n: number): string {
  return Math.abs(n) >= 100 ? n.toFixed(0) : n.toFixed(3);
}

const target = (child: Child): Target => ({ port: child.port, pid: child.process.pid ?? 0 });

function load(child: Child, paths: readonly string[], seconds = DURATION): Promise<LoadResult> {
  return autocannonLoad(target(child), paths, { connections: CONNECTIONS, seconds, workers: WORKERS });
}

/** wrk when installed (the generator that is not the limit here), else autocannon. */
function loadBest(child: Child, paths: readonly string[], seconds = DURATION): Promise<LoadResult> {
  return HAS_WRK ? wrkLoad(target(child), paths, { connections: CONNECTIONS, seconds }) : load(child, paths, seconds);
}

type Generator = (child: Child, paths: readonly string[]) => Promise<LoadResult>;

/** Broker and ceiling take turns, ROUNDS times; medians of each. */
async function alternate(
  broker: Child,
  ceiling: Child,
  paths: readonly string[],
  generator: Generator,
): Promise<{ broker: LoadResult; ceiling: LoadResult }> {
  const runs: LoadResult[] = [];
  const bases: LoadResult[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    runs.push(await generator(broker, paths));
    bases.push(await generator(ceiling, paths));
  }
  const med = (rs: LoadResult[]): LoadResult => ({
    rps: median(rs.map((r) => r.rps)),
    p99: median(rs.map((r) => r.p99)),
    requests: rs.reduce((n, r) => n + r.requests, 0),
    errors: rs.reduce((n, r) => n + r.errors, 0),
    non2xx: rs.reduce((n, r) => n + r.non2xx, 0),
    cpuMsPer1k: median(rs.map((r) => r.cpuMsPer1k)),
  });
  return { broker: med(runs), ceiling: med(bases) };
}

function readPaths(doc: ReturnType<typeof storeToDocument>): string[] {
  const proxies = Object.keys(doc.all_proxies).map((a) => `/api/v2/proxies/meta/${a}`);
  const clusters = Object.keys(doc.clusters).map((n) => `/api/v2/clusters/meta/${n}`);
  const paths: string[] = [];
  // Interleave so every connection rotates over both kinds.
  for (let i = 0; i < Math.max(proxies.length, clusters.length); i++) {
    if (i < proxies.length) paths.push(proxies[i]!);
    if (i < clusters.length) paths.push(clusters[i]!);
  }
  return paths;
}

async function loadFleet(broker: Child, shape: FleetShape): Promise<ReturnType<typeof storeToDocument>> {
  const doc = storeToDocument(buildFleet(shape));
  const client = new HttpClient(broker.port, 1);
  const res = await client.request('PUT', '/api/v2/metadata', JSON.stringify(doc));
  client.close();
  if (res.status !== 200) throw new Error(`restore failed: ${res.status} ${res.body}`);
  return doc;
}

async function warm(port: number, paths: readonly string[]): Promise<void> {
  const client = new HttpClient(port, 16);
  await runAll(paths, 16, async (p) => void (await client.get(p)));
  client.close();
}

async function medianBodySize(port: number, paths: readonly string[]): Promise<number> {
  const client = new HttpClient(port, 8);
  const sizes: number[] = [];
  const sample = paths.filter((_, i) => i % Math.max(1, Math.floor(paths.length / 400)) === 0);
  await runAll(sample, 8, async (p) => void sizes.push(Buffer.byteLength((await client.get(p)).body)));
  client.close();
  return median(sizes);
}

/** The cached read routes a coordinator polls, by name, with the paths that rotate over them. */
function routePaths(doc: ReturnType<typeof storeToDocument>): [string, string[]][] {
  const pages = (what: string, n: number) =>
    Array.from({ length: Math.ceil(n / 100) }, (_, i) => `/api/v2/${what}?offset=${i * 100}&limit=100`);
  return [
    ['proxy meta', Object.keys(doc.all_proxies).map((a) => `/api/v2/proxies/meta/${a}`)],
    ['cluster meta', Object.keys(doc.clusters).map((n) => `/api/v2/clusters/meta/${n}`)],
    ['cluster names pages', pages('clusters/names', Object.keys(doc.clusters).length)],
    ['proxy addresses pages', pages('proxies/addresses', Object.keys(doc.all_proxies).length)],
    ['failures', ['/api/v2/failures']],
    ['failed proxies', ['/api/v2/proxies/failed/addresses']],
  ];
}

async function readThroughput(shape: FleetShape): Promise<void> {
  console.log(`\n[1] reads on ${shape.name}`);
  const broker = await startBroker();
  try {
    const doc = await loadFleet(broker, shape);
    const paths = readPaths(doc);
    const size = await medianBodySize(broker.port, paths);
    const cold = await load(broker, paths, 2);
    // Coordinators poll every second, so in steady state every answer has
    // been asked for before: one full pass warms the answer cache.
    await warm(broker.port, paths);
    const ceiling = await startBaseline('fixed', String(size));
    let mixed: { broker: LoadResult; ceiling: LoadResult };
    try {
      await load(ceiling, paths, 1);
      const ac = await alternate(broker, ceiling, paths, (c, p) => load(c, p));
      mixed = ac;
      readRows(`${shape.name} GET proxy+cluster meta`, ac, 'autocannon');
      if (HAS_WRK) {
        mixed = await alternate(broker, ceiling, paths, (c, p) => loadBest(c, p));
        readRows(`${shape.name} GET proxy+cluster meta`, mixed, 'wrk');
        row(
          `1. ${shape.name} autocannon ceiling / wrk ceiling (${WORKERS} autocannon workers)`,
          ac.ceiling.rps,
          mixed.ceiling.rps,
          'req/s',
          'within 10%',
          (r) => (r === null ? null : r >= 0.9 && r <= 1.1),
        );
      }
    } finally {
      await ceiling.stop();
    }
    row(
      `1. ${shape.name} first pass (answers computed by reader threads), requests/s (autocannon)`,
      cold.rps,
      mixed.ceiling.rps,
      'req/s',
      'reported',
      () => null,
    );
    if (shape === LARGE) {
      for (const [name, routePathList] of routePaths(doc)) await routeThroughput(broker, name, routePathList);
      await readsWithWrites(broker, doc, paths, mixed.ceiling.rps);
      await propagation(broker, doc);
      await pollRound(broker);
      row(
        '5. Large peak resident memory, all threads',
        broker.peakRss() / 2 ** 20,
        null,
        'MiB',
        '<= 400 MiB',
        (_r, v) => v <= 400,
      );
    }
  } finally {
    await broker.stop();
  }
}

function readRows(label: string, r: { broker: LoadResult; ceiling: LoadResult }, generator: string): void {
  if (r.broker.errors || r.broker.non2xx)
    notes.push(`${label} (${generator}): ${r.broker.errors} errors, ${r.broker.non2xx} non-2xx`);
  row(`1. ${label}, requests/s (${generator})`, r.broker.rps, r.ceiling.rps, 'req/s', '>= 0.9 of ceiling', (ratio) =>
    ratio === null ? null : ratio >= 0.9,
  );
  row(`1. ${label}, p99 latency (${generator})`, r.broker.p99, r.ceiling.p99, 'ms', 'reported', () => null);
  row(
    `1. ${label}, server CPU per 1,000 requests (${generator})`,
    r.broker.cpuMsPer1k,
    r.ceiling.cpuMsPer1k,
    'ms',
    'reported',
    () => null,
  );
}

/** One cached read route against a bare server answering a body of the route's median size. */
async function routeThroughput(broker: Child, name: string, paths: readonly string[]): Promise<void> {
  console.log(`\n[1] Large ${name}`);
  await warm(broker.port, paths);
  const size = await medianBodySize(broker.port, paths);
  const ceiling = await startBaseline('fixed', String(size));
  try {
    await loadBest(ceiling, paths, 1);
    const r = await alternate(broker, ceiling, paths, (c, p) => loadBest(c, p));
    readRows(`Large ${name} (${fmtBytes(size)})`, r, HAS_WRK ? 'wrk' : 'autocannon');
  } finally {
    await ceiling.stop();
  }
}

function fmtBytes(n: number): string {
  return n >= 1024 ? `${(n / 1024).toFixed(1)} KB` : `${n} B`;
}

/**
 * The broker's own view of write latency, from receipt to answer, out of its
 * request-duration histogram: p99 as the upper bound of the bucket holding
 * the 99th percentile, over the given routes.
 */
async function histogramP99(port: number, metric: string, routes: readonly string[] | null): Promise<number> {
  const client = new HttpClient(port, 1);
  const text = (await client.get('/api/v2/metrics')).body;
  client.close();
  const buckets = new Map<number, number>();
  for (const line of text.split('\n')) {
    const m = new RegExp(`^${metric}_bucket\\{(.*)\\} (\\d+)`).exec(line);
    if (!m || (routes !== null && !routes.some((r) => m[1]!.includes(`route="${r}"`)))) continue;
    const le = /le="([^"]+)"/.exec(m[1]!)?.[1];
    const bound = le === '+Inf' ? Infinity : Number(le);
    buckets.set(bound, (buckets.get(bound) ?? 0) + Number(m[2]));
  }
  const bounds = [...buckets.keys()].sort((a, b) => a - b);
  const total = buckets.get(Infinity) ?? 0;
  for (const b of bounds) if (buckets.get(b)! >= 0.99 * total) return b * 1000;
  return NaN;
}

async function readsWithWrites(
  broker: Child,
  doc: ReturnType<typeof storeToDocument>,
  paths: readonly string[],
  ceilingRps: number,
): Promise<void> {
  console.log('\n[2] reads with 20 failure reports/s and 1 cluster change/s');
  const addresses = Object.keys(doc.all_proxies);
  /** Writes at the stated rates to the broker while `load` runs; the latencies its client saw. */
  const writeDuring = async (load: () => Promise<LoadResult>): Promise<{ load: LoadResult; latencies: number[] }> => {
    const client = new HttpClient(broker.port, 4);
    const latencies: number[] = [];
    let stop = false;
    let n = 0;
    const write = async (method: string, path: string, body?: string) => {
      const started = performance.now();
      const res = await client.request(method, path, body);
      latencies.push(performance.now() - started);
      if (res.status !== 200) notes.push(`write ${method} ${path} answered ${res.status}`);
    };
    const writer = (async () => {
      const startedAt = performance.now();
      while (!stop) {
        const due = startedAt + n * 50;
        const wait = due - performance.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        if (stop) break;
        if (n % 20 === 19) {
          await write(
            'PATCH',
            `/api/v2/clusters/config/${clusterNameOf(n % 1000)}`,
            JSON.stringify({ compression_strategy: n % 40 < 20 ? 'allow_all' : 'disabled' }),
          );
        } else {
          await write('POST', `/api/v2/failures/${addresses[n % addresses.length]}/bench-reporter`);
        }
        n += 1;
      }
    })();
    try {
      return { load: await load(), latencies };
    } finally {
      stop = true;
      await writer;
      client.close();
    }
  };
  // The machine's own floor: the same writes to the broker while the
  // generator saturates a bare server instead, so that both cores are as
  // busy but the broker serves no reads. On 2 cores the writing client
  // waits for a core either way.
  const bare = await startBaseline('fixed', '1500');
  let floor: number[];
  try {
    floor = (await writeDuring(() => loadBest(bare, paths, 15))).latencies;
  } finally {
    await bare.stop();
  }
  // Longer than the read-only loads: a p99 needs a few hundred writes.
  const { load: measured, latencies } = await writeDuring(() => loadBest(broker, paths, 15));
  row(
    `2. Large reads during writes, requests/s (${HAS_WRK ? 'wrk' : 'autocannon'})`,
    measured.rps,
    ceilingRps,
    'req/s',
    '>= 0.85 of ceiling',
    (r) => (r === null ? null : r >= 0.85),
  );
  row(
    '2. Large write p99 latency during reads, seen by the client (baseline: the same writes while the generator loads a bare server)',
    quantile(latencies, 0.99),
    quantile(floor, 0.99),
    'ms',
    '<= 5 ms',
    (_r, v) => v <= 5,
  );
  row(
    '2. Large write p99 latency during reads, in the broker (histogram bucket bound)',
    await histogramP99(broker.port, 'http_request_duration_seconds', [
      '/api/v2/failures/:address/:reporter',
      '/api/v2/clusters/config/:name',
    ]),
    null,
    'ms',
    'reported',
    () => null,
  );
  row(
    '2. ... of which the owner-thread round trip, p99 (histogram bucket bound)',
    await histogramP99(broker.port, 'owner_roundtrip_seconds', null),
    null,
    'ms',
    'reported',
    () => null,
  );
  row(
    '2. Large write median latency during reads, seen by the client (baseline as above)',
    median(latencies),
    median(floor),
    'ms',
    'reported',
    () => null,
  );
  notes.push(`reads-with-writes: ${latencies.length} writes sent`);
}

async function propagation(broker: Child, doc: ReturnType<typeof storeToDocument>): Promise<void> {
  console.log('\n[4] write answer to new generation served');
  const client = new HttpClient(broker.port, 8);
  const names = Object.keys(doc.clusters);
  const delays: number[] = [];
  const unchanged: number[] = [];
  // One read more than there are reader threads (the broker's default: one
  // per core beyond the first), all at once: the generation counts as
  // served when every one of them saw it.
  const readers = Math.max(1, availableParallelism() - 1);
  const readAll = (name: string) =>
    Promise.all(Array.from({ length: readers + 1 }, () => client.get(`/api/v2/clusters/meta/${name}`)));
  for (let i = 0; i < 300; i++) {
    const name = names[(i * 7) % names.length]!;
    const strategy = i % 2 === 0 ? 'set_get_only' : 'allow_all';
    // The client's own cost for the same reads of data that did not change.
    const before = performance.now();
    await readAll(names[(i * 7 + 1) % names.length]!);
    unchanged.push(performance.now() - before);
    await client.request(
      'PATCH',
      `/api/v2/clusters/config/${name}`,
      JSON.stringify({ compression_strategy: strategy }),
    );
    const answered = performance.now();
    const reads = await readAll(name);
    delays.push(performance.now() - answered);
    for (const r of reads) {
      if (!r.body.includes(`"compression_strategy":"${strategy}"`))
        throw new Error('a read after a write did not see it');
    }
  }
  client.close();
  row(
    `4. Large write answer -> ${readers + 1} concurrent reads see the new generation, p99`,
    quantile(delays, 0.99),
    quantile(unchanged, 0.99),
    'ms',
    '<= 5 ms',
    (_r, v) => v <= 5,
  );
  row(
    `4. Large write answer -> ${readers + 1} concurrent reads see the new generation, median`,
    median(delays),
    median(unchanged),
    'ms',
    'reported',
    () => null,
  );
}

async function pollRound(broker: Child): Promise<void> {
  console.log('\n[3] coordinator poll round, 32 in flight');
  const client = new HttpClient(broker.port, 32);
  const recorded: Record<string, string> = {};
  const get = async (path: string) => {
    const res = await client.get(path);
    recorded[path] = res.body;
    return res.body;
  };
  const round = async (c: { get(path: string): Promise<string> }) => {
    const started = performance.now();
    const pageSize = 100;
    const names: string[] = [];
    for (let offset = 0; ; offset += pageSize) {
      const page = (
        JSON.parse(await c.get(`/api/v2/clusters/names?offset=${offset}&limit=${pageSize}`)) as { names: string[] }
      ).names;
      names.push(...page);
      if (page.length < pageSize) break;
    }
    const addresses: string[] = [];
    for (let offset = 0; ; offset += pageSize) {
      const page = (
        JSON.parse(await c.get(`/api/v2/proxies/addresses?offset=${offset}&limit=${pageSize}`)) as {
          addresses: string[];
        }
      ).addresses;
      addresses.push(...page);
      if (page.length < pageSize) break;
    }
    const metas = [
      ...names.map((n) => `/api/v2/clusters/meta/${n}`),
      ...addresses.map((a) => `/api/v2/proxies/meta/${a}`),
      '/api/v2/failures',
      '/api/v2/proxies/failed/addresses',
    ];
    await runAll(metas, 32, async (p) => void (await c.get(p)));
    return {
      ms: performance.now() - started,
      requests: metas.length + names.length / pageSize + addresses.length / pageSize,
    };
  };
  await round({ get }); // records the bodies for the replay server and warms up
  const dir = join(tmpdir(), `metabroker-bench-${process.pid}`);
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'replay.json');
  writeFileSync(file, JSON.stringify(recorded));
  const replay = await startBaseline('replay', file);
  const baseClient = new HttpClient(replay.port, 32);
  const brokerTimes: number[] = [];
  const baseTimes: number[] = [];
  let requests = 0;
  try {
    await round({ get: async (p) => (await baseClient.get(p)).body });
    // Broker and replay server take turns; medians of five rounds each.
    for (let i = 0; i < 5; i++) {
      const r = await round({ get: async (p) => (await client.get(p)).body });
      brokerTimes.push(r.ms);
      requests = r.requests;
      baseTimes.push((await round({ get: async (p) => (await baseClient.get(p)).body })).ms);
    }
  } finally {
    client.close();
    baseClient.close();
    await replay.stop();
  }
  row(
    `3. Large full poll round (${Math.round(requests)} requests), wall time`,
    median(brokerTimes),
    median(baseTimes),
    'ms',
    '<= 1.1x ceiling',
    (r) => (r === null ? null : r <= 1.1),
  );
}

async function main(): Promise<void> {
  const started = performance.now();
  console.log(
    HAS_WRK ? `wrk: ${WRK} (cross-check)` : 'wrk: not installed (apt-get install wrk); autocannon figures only',
  );
  console.log('[0] domain cost, in process');
  for (const f of runApplyBench()) {
    row(
      `0. ${f.label}, median`,
      f.medianMs,
      null,
      'ms',
      f.label.startsWith('create') ? '< 1 ms' : 'reported',
      (_r, v) => (f.label.startsWith('create') ? v < 1 : null),
    );
  }
  await readThroughput(SMALL);
  await readThroughput(LARGE);
  console.log('\n[6] a poller while abusive clients hold connections');
  const abuse = await runAbuseBench();
  row(
    `6. poller p99 with ${abuse.idleConnections} idle, ${abuse.slowClients} slow and ${abuse.vanished} vanishing clients`,
    abuse.abusedP99Ms,
    abuse.quietP99Ms,
    'ms',
    '<= 2x quiet',
    (r) => (r === null ? null : r <= 2),
  );

  const table = [
    '| figure | value | baseline | ratio | target | met |',
    '|---|---|---|---|---|---|',
    ...rows.map(
      (r) =>
        `| ${r.figure} | ${fmt(r.value)} ${r.unit} | ${r.baseline === null ? '' : `${fmt(r.baseline)} ${r.unit}`} | ${r.ratio === null ? '' : r.ratio.toFixed(3)} | ${r.target} | ${r.met === null ? '' : r.met ? 'yes' : 'NO'} |`,
    ),
  ].join('\n');
  const meta = {
    date: new Date().toISOString(),
    node: process.version,
    cores: availableParallelism(),
    seconds: DURATION,
    rounds: ROUNDS,
    connections: CONNECTIONS,
    autocannonWorkers: WORKERS,
    wrk: HAS_WRK,
    wallSeconds: (performance.now() - started) / 1000,
  };
  const resultsDir = fileURLToPath(new URL('../../bench/results/', import.meta.url));
  mkdirSync(resultsDir, { recursive: true });
  writeFileSync(join(resultsDir, 'latest.json'), JSON.stringify({ meta, rows, notes }, null, 2) + '\n');
  const crossCheck = HAS_WRK ? `wrk (${WRK}, one thread) as the cross-check` : 'wrk is not installed: no cross-check';
  const generators = `autocannon with ${WORKERS} worker threads; ${crossCheck}`;
  writeFileSync(
    join(resultsDir, 'latest.md'),
    `# make bench, ${meta.date}\n\n` +
      `Node ${meta.node}, ${availableParallelism()} cores, ${CONNECTIONS} connections, ${DURATION} s per load, ` +
      `${ROUNDS} rounds, wall ${meta.wallSeconds.toFixed(0)} s.\nGenerators: ${generators}.\n\n` +
      `${table}\n\n${notes.map((n) => `- ${n}`).join('\n')}\n`,
  );
  console.log(`\n${table}\n`);
  for (const n of notes) console.log(`note: ${n}`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
