/**
 * etcd mode figures, each against a baseline measured in the same run:
 *
 * 1. write latency (p50/p99, one client, sequential) with etcd of one and
 *    of three members, against file mode with auto_update_meta_file;
 * 2. a write acknowledged by the leader becoming visible on a follower
 *    (p50/p99);
 * 3. cached reads on a follower against the same reads on the leader
 *    (wrk when installed, else a closed loop of keep-alive clients);
 * 4. failover: leader SIGKILL to the first successful write through a
 *    surviving broker, median and max over 10 rounds.
 *
 * Real etcd members (Debian's etcd-server) and real broker processes on
 * this process's own loopback address. Writes bench/results/etcd.md and
 * etcd.json.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Agent } from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { request, startBroker, tempDir } from '../test/helpers/broker-process.js';
import type { BrokerProcess, HttpAnswer } from '../test/helpers/broker-process.js';
import { etcdMissing, ownPort, processLoopback, startEtcdCluster } from '../test/helpers/etcd-cluster.js';
import type { EtcdCluster } from '../test/helpers/etcd-cluster.js';
import { median, quantile } from './http-client.js';

const RESULTS = fileURLToPath(new URL('../../bench/results/', import.meta.url));
const agent = new Agent({ keepAlive: true, maxSockets: 64 });
const host = processLoopback();

interface Broker {
  readonly process: BrokerProcess;
  readonly origin: string;
}

function call(b: Broker, method: string, path: string, body?: unknown): Promise<HttpAnswer> {
  return request(b.origin, method, `/api/v2${path}`, body, { agent, timeoutMs: 15_000 });
}

async function start(env: Record<string, string>): Promise<Broker> {
  const port = ownPort();
  const process = await startBroker({
    env: { UNDERMOON_ADDRESS: `${host}:${port}`, UNDERMOON_READER_THREADS: '1', ...env },
  });
  return { process, origin: `http://${host}:${port}` };
}

let prefixes = 0;

function etcdEnv(cluster: EtcdCluster, extra: Record<string, string> = {}): Record<string, string> {
  return {
    UNDERMOON_STORAGE: 'etcd',
    UNDERMOON_ETCD_ENDPOINTS: cluster.endpoints.join(','),
    UNDERMOON_ETCD_PREFIX: `/bench-${process.pid}-${++prefixes}/`,
    UNDERMOON_ETCD_LEASE_TTL: '2',
    UNDERMOON_ETCD_TIMEOUT_MS: '1000',
    ...extra,
  };
}

async function startGroup(cluster: EtcdCluster, count: number): Promise<Broker[]> {
  const env = etcdEnv(cluster);
  const group: Broker[] = [];
  for (let i = 0; i < count; i++) group.push(await start(env));
  await until(() => group.some(leads), 10_000, 'a leader');
  return group;
}

function leads(b: Broker): boolean {
  let result = false;
  for (const line of b.process.logs) {
    if (line.msg === 'elected leader') result = true;
    if (line.msg === 'stepped down from leadership') result = false;
  }
  return result;
}

async function until(probe: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`no ${what} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

let proxySeq = 0;

function proxyBody(): { proxy_address: string; nodes: [string, string]; host: string } {
  const n = ++proxySeq;
  const h = `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`;
  return { proxy_address: `${h}:6000`, nodes: [`${h}:7000`, `${h}:7001`], host: `h${n % 50}` };
}

interface Latency {
  readonly p50: number;
  readonly p99: number;
  readonly n: number;
}

function latency(samples: number[]): Latency {
  return { p50: median(samples), p99: quantile(samples, 0.99), n: samples.length };
}

/** Sequential proxy registrations through `b`, timed one by one. */
async function writeLatency(b: Broker, count: number): Promise<Latency> {
  for (let i = 0; i < 20; i++) await call(b, 'POST', '/proxies/meta', proxyBody());
  const samples: number[] = [];
  for (let i = 0; i < count; i++) {
    const started = performance.now();
    const a = await call(b, 'POST', '/proxies/meta', proxyBody());
    samples.push(performance.now() - started);
    if (a.status !== 200) throw new Error(`write answered ${a.status} ${a.text}`);
  }
  return latency(samples);
}

/** Time from the leader's answer to a follower answering the new proxy's view. */
async function followerVisibility(leader: Broker, follower: Broker, count: number): Promise<Latency> {
  const samples: number[] = [];
  for (let i = 0; i < count; i++) {
    const body = proxyBody();
    const a = await call(leader, 'POST', '/proxies/meta', body);
    if (a.status !== 200) throw new Error(`write answered ${a.status}`);
    const acknowledged = performance.now();
    for (;;) {
      const r = await call(follower, 'GET', `/proxies/meta/${encodeURIComponent(body.proxy_address)}`);
      if (r.text !== '{"proxy":null}') break;
      if (performance.now() - acknowledged > 5000) throw new Error('follower did not see a write within 5 s');
    }
    samples.push(performance.now() - acknowledged);
  }
  return latency(samples);
}

const WRK = ['/usr/bin/wrk', '/usr/local/bin/wrk'].find((p) => existsSync(p)) ?? null;

/** Requests per second of cached GETs on one URL. */
async function readRate(url: string, seconds: number): Promise<number> {
  if (WRK !== null) {
    const out = spawnSync(WRK, ['-t1', '-c64', `-d${seconds}s`, url], { encoding: 'utf8' });
    const rate = Number(/Requests\/sec:\s+([\d.]+)/.exec(out.stdout)?.[1]);
    if (!Number.isFinite(rate)) throw new Error(`wrk failed: ${out.stderr}${out.stdout}`);
    return rate;
  }
  // No wrk: a closed loop of 64 keep-alive clients (the generator may then be the limit).
  const { origin, pathname } = new URL(url);
  let done = 0;
  const until = performance.now() + seconds * 1000;
  await Promise.all(
    Array.from({ length: 64 }, async () => {
      while (performance.now() < until) {
        await request(origin, 'GET', pathname, undefined, { agent });
        done += 1;
      }
    }),
  );
  return done / seconds;
}

async function failoverRounds(cluster: EtcdCluster, rounds: number): Promise<number[]> {
  const env = etcdEnv(cluster);
  const group: Broker[] = [];
  for (let i = 0; i < 3; i++) group.push(await start(env));
  const times: number[] = [];
  try {
    for (let round = 0; round < rounds; round++) {
      await until(() => group.some(leads), 15_000, 'a leader');
      const leader = group.find(leads)!;
      const survivors = group.filter((b) => b !== leader);
      await until(
        async () => (await call(survivors[0]!, 'POST', '/proxies/meta', proxyBody())).status === 200,
        10_000,
        'a forwarded write',
      );
      const killedAt = performance.now();
      await leader.process.kill();
      let k = 0;
      for (;;) {
        const a = await call(survivors[k++ % survivors.length]!, 'POST', '/proxies/meta', proxyBody()).catch(
          () => null,
        );
        if (a?.status === 200) break;
        if (performance.now() - killedAt > 30_000) throw new Error('no write within 30 s of the kill');
      }
      times.push(performance.now() - killedAt);
      group.splice(group.indexOf(leader), 1, await start(env));
    }
  } finally {
    for (const b of group) await b.process.kill().catch(() => undefined);
  }
  return times;
}

function fmt(ms: number): string {
  return `${ms.toFixed(2)} ms`;
}

async function main(): Promise<void> {
  const missing = etcdMissing();
  if (missing !== null) {
    console.log(`etcd benchmarks skipped: ${missing}`);
    return;
  }
  const rows: [string, string, string, string][] = [];
  const json: Record<string, unknown> = {};
  const WRITES = 300;

  // 1. Write latency: file mode with every change fsynced, then etcd.
  // On the same file system as the etcd members' data (tmpfs when there is one), so both pay the same fsync.
  const fileDir = existsSync('/dev/shm') ? mkdtempSync('/dev/shm/metabroker-bench-') : tempDir();
  const fileBroker = await start({
    UNDERMOON_AUTO_UPDATE_META_FILE: 'true',
    UNDERMOON_META_FILENAME: join(fileDir, 'metadata'),
  });
  const file = await writeLatency(fileBroker, WRITES);
  await fileBroker.process.kill();
  rmSync(fileDir, { recursive: true, force: true });
  json.writeFile = file;
  rows.push([
    'write latency, file mode (auto_update_meta_file), p50 / p99',
    `${fmt(file.p50)} / ${fmt(file.p99)}`,
    'baseline',
    '',
  ]);

  const one = await startEtcdCluster(1);
  const [soloLeader] = await startGroup(one, 1);
  const solo = await writeLatency(soloLeader!, WRITES);
  await soloLeader!.process.kill();
  await one.stop();
  json.writeEtcd1 = solo;
  rows.push([
    'write latency, etcd 1 member, p50 / p99',
    `${fmt(solo.p50)} / ${fmt(solo.p99)}`,
    `${fmt(file.p50)} / ${fmt(file.p99)}`,
    `${(solo.p50 / file.p50).toFixed(2)}x / ${(solo.p99 / file.p99).toFixed(2)}x`,
  ]);

  const three = await startEtcdCluster(3);
  const group = await startGroup(three, 3);
  const leader = group.find(leads)!;
  const follower = group.find((b) => b !== leader)!;
  const trio = await writeLatency(leader, WRITES);
  json.writeEtcd3 = trio;
  rows.push([
    'write latency, etcd 3 members, p50 / p99',
    `${fmt(trio.p50)} / ${fmt(trio.p99)}`,
    `${fmt(file.p50)} / ${fmt(file.p99)}`,
    `${(trio.p50 / file.p50).toFixed(2)}x / ${(trio.p99 / file.p99).toFixed(2)}x`,
  ]);
  const viaFollower = await writeLatency(follower, WRITES);
  json.writeEtcd3ViaFollower = viaFollower;
  rows.push([
    'write latency through a follower (forwarded), etcd 3 members, p50 / p99',
    `${fmt(viaFollower.p50)} / ${fmt(viaFollower.p99)}`,
    `${fmt(trio.p50)} / ${fmt(trio.p99)}`,
    `${(viaFollower.p50 / trio.p50).toFixed(2)}x`,
  ]);

  // 2. Follower visibility.
  const visible = await followerVisibility(leader, follower, 200);
  json.followerVisibility = visible;
  rows.push([
    'leader answer -> follower serves it, p50 / p99',
    `${fmt(visible.p50)} / ${fmt(visible.p99)}`,
    '',
    visible.p99 <= 100 ? 'p99 <= 100 ms: yes' : 'p99 <= 100 ms: NO',
  ]);

  // 3. Cached reads on a follower against the leader, alternating, medians of 3.
  const sample = proxyBody();
  await call(leader, 'POST', '/proxies/meta', sample);
  const path = `/api/v2/proxies/meta/${encodeURIComponent(sample.proxy_address)}`;
  await until(
    async () => (await request(follower.origin, 'GET', path, undefined, { agent })).text !== '{"proxy":null}',
    5000,
    'follower sees the sample',
  );
  const leaderRates: number[] = [];
  const followerRates: number[] = [];
  for (let round = 0; round < 3; round++) {
    leaderRates.push(await readRate(leader.origin + path, 3));
    followerRates.push(await readRate(follower.origin + path, 3));
  }
  const readRatio = median(followerRates) / median(leaderRates);
  json.reads = { leader: leaderRates, follower: followerRates, ratio: readRatio, generator: WRK ?? 'node closed loop' };
  rows.push([
    `cached proxy meta reads, follower vs leader (${WRK === null ? 'node clients: wrk not installed' : 'wrk -t1 -c64'}), median req/s`,
    `${median(followerRates).toFixed(0)} req/s`,
    `${median(leaderRates).toFixed(0)} req/s`,
    `${readRatio.toFixed(3)} (target >= 0.95: ${readRatio >= 0.95 ? 'yes' : 'NO'})`,
  ]);
  for (const b of group) await b.process.kill();

  // 4. Failover time over 10 rounds.
  const failovers = await failoverRounds(three, 10);
  await three.stop();
  json.failoverMs = failovers;
  rows.push([
    'failover: leader SIGKILL -> first write through a survivor (lease TTL 2 s), median / max of 10',
    `${fmt(median(failovers))} / ${fmt(Math.max(...failovers))}`,
    '',
    '',
  ]);

  const table = [
    '| figure | value | baseline | ratio |',
    '|---|---|---|---|',
    ...rows.map((r) => `| ${r.join(' | ')} |`),
  ].join('\n');
  console.log(table);
  mkdirSync(RESULTS, { recursive: true });
  writeFileSync(
    join(RESULTS, 'etcd.md'),
    `# etcd mode benchmarks\n\n${new Date().toISOString()}; \`make bench\` (bench/etcd.ts).\n\n${table}\n`,
  );
  writeFileSync(join(RESULTS, 'etcd.json'), `${JSON.stringify(json, null, 2)}\n`);
  agent.destroy();
}

await main();
process.exit(0);
