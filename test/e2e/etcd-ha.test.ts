/**
 * Several brokers over one real etcd cluster (3 members), as real processes
 * killed and paused with real signals: one elected writer, every broker
 * serving reads, writes forwarded to the leader, no acknowledged write lost.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Agent } from 'node:http';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { request, startBroker, tempDir } from '../helpers/broker-process.js';
import type { BrokerProcess, HttpAnswer } from '../helpers/broker-process.js';
import { etcdMissing, ownPort, processLoopback, startEtcdCluster } from '../helpers/etcd-cluster.js';
import type { EtcdCluster } from '../helpers/etcd-cluster.js';

const LEASE_TTL_SECONDS = 2;
const ETCD_TIMEOUT_MS = 1000;

let etcd: EtcdCluster;
let prefixes = 0;
const agent = new Agent({ keepAlive: true, maxSockets: 32 });

before(async () => {
  const missing = etcdMissing();
  if (missing !== null) throw new Error(missing);
  etcd = await startEtcdCluster(3);
});

after(async () => {
  agent.destroy();
  await etcd.stop();
});

class Node {
  constructor(
    readonly broker: BrokerProcess,
    readonly host: string,
  ) {}

  get origin(): string {
    return `http://${this.host}:${this.broker.port}`;
  }

  call(method: string, path: string, body?: unknown, timeoutMs = 5000): Promise<HttpAnswer> {
    return request(this.origin, method, `/api/v2${path}`, body, { agent, timeoutMs });
  }

  /** True once this broker logged that it leads, and has not stepped down since. */
  get leads(): boolean {
    let leads = false;
    for (const line of this.broker.logs) {
      if (line.msg === 'elected leader') leads = true;
      if (line.msg === 'stepped down from leadership') leads = false;
    }
    return leads;
  }
}

/** Starts `count` brokers over `etcd` on a prefix of their own. */
async function startGroup(count: number): Promise<Node[]> {
  const host = processLoopback();
  const prefix = `/ha-${process.pid}-${++prefixes}/`;
  const nodes: Node[] = [];
  for (let i = 0; i < count; i++) {
    const port = ownPort();
    const broker = await startBroker({
      env: {
        UNDERMOON_ADDRESS: `${host}:${port}`,
        UNDERMOON_STORAGE: 'etcd',
        UNDERMOON_ETCD_ENDPOINTS: etcd.endpoints.join(','),
        UNDERMOON_ETCD_PREFIX: prefix,
        UNDERMOON_ETCD_LEASE_TTL: String(LEASE_TTL_SECONDS),
        UNDERMOON_ETCD_TIMEOUT_MS: String(ETCD_TIMEOUT_MS),
      },
    });
    nodes.push(new Node(broker, host));
  }
  await waitFor(() => nodes.some((n) => n.leads), 10_000, 'a leader');
  // Every follower knows the leader once a forwarded write succeeds through it.
  for (const n of nodes)
    await waitFor(async () => (await n.call('GET', '/proxies/addresses')).status === 200, 10_000, 'reads');
  return nodes;
}

async function stopGroup(nodes: readonly Node[]): Promise<void> {
  for (const n of nodes) {
    try {
      n.broker.child.kill('SIGCONT');
    } catch {
      // gone
    }
    await n.broker.kill().catch(() => undefined);
  }
}

async function waitFor(probe: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if (await probe()) return;
    } catch {
      // not yet
    }
    if (Date.now() > deadline) throw new Error(`no ${what} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

function leaderOf(nodes: readonly Node[]): Node {
  const leaders = nodes.filter((n) => n.leads);
  assert.equal(leaders.length, 1, `exactly one leader: ${leaders.map((n) => n.origin).join(', ')}`);
  return leaders[0]!;
}

let proxySeq = 0;

function proxyBody(): { proxy_address: string; nodes: [string, string]; host: string } {
  const n = ++proxySeq;
  const host = `10.${(n >> 8) & 255}.${n & 255}`;
  return { proxy_address: `${host}.1:6000`, nodes: [`${host}.1:7000`, `${host}.1:7001`], host: `h${n}` };
}

interface Doc {
  global_epoch: number;
  clusters: Record<string, unknown>;
  all_proxies: Record<string, unknown>;
}

async function doc(node: Node): Promise<Doc> {
  const a = await node.call('GET', '/metadata');
  assert.equal(a.status, 200, a.text);
  return a.json<Doc>();
}

/** Codes a write may answer while leadership moves; anything else is a bug. */
const TRANSIENT = new Set(['NO_LEADER', 'NOT_LEADER', 'STORAGE_UNAVAILABLE']);

function assertTransient(a: HttpAnswer): void {
  assert.equal(a.status, 503, `unexpected answer ${a.status} ${a.text}`);
  assert.ok(TRANSIENT.has(a.json<{ error: string }>().error), a.text);
}

test('leader SIGKILLed under writes through every broker: no acknowledged write lost, a new leader within the lease TTL + 2 s, reads served throughout', async () => {
  const nodes = await startGroup(3);
  try {
    const leader = leaderOf(nodes);
    const survivors = nodes.filter((n) => n !== leader);
    const acknowledged: string[] = [];
    let killedAt = 0;
    let stop = false;
    const readFailures: string[] = [];
    let reads = 0;

    const writer = async (i: number) => {
      for (let k = 0; !stop; k++) {
        const node = nodes[(i + k) % nodes.length]!;
        const body = proxyBody();
        try {
          const a = await node.call('POST', '/proxies/meta', body);
          if (a.status === 200) acknowledged.push(body.proxy_address);
          else assertTransient(a);
        } catch {
          // The killed broker's connections fail; nothing was acknowledged.
          assert.ok(killedAt > 0 && node === leader, 'only the killed broker may fail to answer');
        }
      }
    };
    const reader = async (node: Node) => {
      while (!stop) {
        try {
          const a = await node.call('GET', '/proxies/addresses');
          reads += 1;
          if (a.status !== 200) readFailures.push(`${node.origin}: ${a.status}`);
        } catch (err) {
          readFailures.push(`${node.origin}: ${String(err)}`);
        }
      }
    };
    const load = [0, 1, 2, 3].map(writer).concat(survivors.map(reader));
    await waitFor(() => acknowledged.length >= 30, 20_000, 'writes before the kill');
    killedAt = Date.now();
    await leader.broker.kill();
    await waitFor(
      () => survivors.some((n) => n.leads),
      (LEASE_TTL_SECONDS + 2) * 1000,
      'new leader within the lease TTL + 2 s',
    );
    const electedMs = Date.now() - killedAt;
    const before = acknowledged.length;
    await waitFor(() => acknowledged.length >= before + 30, 20_000, 'writes after the failover');
    stop = true;
    await Promise.all(load);

    const newLeader = leaderOf(survivors);
    const final = await doc(newLeader);
    const lost = acknowledged.filter((a) => !(a in final.all_proxies));
    assert.deepEqual(lost, [], `${lost.length} acknowledged writes lost`);
    for (const n of survivors) {
      await waitFor(
        async () => Object.keys((await doc(n)).all_proxies).length === Object.keys(final.all_proxies).length,
        5000,
        'follower caught up',
      );
    }
    assert.deepEqual(readFailures, [], 'surviving brokers answered every read');
    console.log(
      `# failover: new leader ${electedMs} ms after SIGKILL; ${acknowledged.length} writes acknowledged, 0 lost; ${reads} reads on survivors`,
    );
  } finally {
    await stopGroup(nodes);
  }
});

test('leader SIGSTOPped past its lease, then SIGCONT: it commits nothing after waking, steps down and catches up', async () => {
  const nodes = await startGroup(3);
  try {
    const paused = leaderOf(nodes);
    const others = nodes.filter((n) => n !== paused);
    assert.equal((await paused.call('POST', '/proxies/meta', proxyBody())).status, 200);
    paused.broker.child.kill('SIGSTOP');
    // Writes sent to the paused broker wait in its socket until it wakes.
    // Fresh connections: a kept-alive one may be closed by the broker's idle timer as it wakes.
    const inFlight = [0, 1, 2, 3, 4].map(() => {
      const body = proxyBody();
      return request(paused.origin, 'POST', '/api/v2/proxies/meta', body, { timeoutMs: 30_000 }).then(
        (a) => ({ a, body, err: null }),
        (err: unknown) => ({ a: null, body, err: String(err) }),
      );
    });
    await waitFor(
      () => others.some((n) => n.leads),
      (LEASE_TTL_SECONDS + 3) * 1000,
      'a new leader while the old one sleeps',
    );
    const newLeader = leaderOf(others);
    for (let i = 0; i < 5; i++) assert.equal((await newLeader.call('POST', '/proxies/meta', proxyBody())).status, 200);
    paused.broker.child.kill('SIGCONT');

    const answers = await Promise.all(inFlight);
    const reference = await doc(newLeader);
    for (const { a, body, err } of answers) {
      assert.ok(a !== null, `a write in flight across the pause was answered: ${err}`);
      if (a.status === 200) {
        // Answered only if the new leader committed it (forwarded after waking).
        assert.ok(
          body.proxy_address in reference.all_proxies || (await doc(newLeader)).all_proxies[body.proxy_address],
          `acknowledged ${body.proxy_address} is in the document`,
        );
      } else {
        assertTransient(a);
      }
    }
    await waitFor(
      () => paused.broker.logs.some((l) => l.msg === 'stepped down from leadership'),
      10_000,
      'the woken broker stepping down',
    );
    assert.equal(paused.leads, false);
    const expected = await doc(newLeader);
    await waitFor(async () => isDeepStrictEqual(await doc(paused), expected), 10_000, 'the woken broker catching up');
    // And it forwards writes to the new leader from now on.
    const body = proxyBody();
    assert.equal((await paused.call('POST', '/proxies/meta', body)).status, 200);
    assert.ok(body.proxy_address in (await doc(newLeader)).all_proxies);
  } finally {
    await stopGroup(nodes);
  }
});

test('one etcd member SIGKILLed: service continues; quorum lost: writes answer 503 within the timeout while reads go on; quorum back: writes resume', async () => {
  const nodes = await startGroup(2);
  const [first, second, third] = etcd.members;
  try {
    await first!.kill();
    await waitFor(
      async () => (await nodes[1]!.call('POST', '/proxies/meta', proxyBody())).status === 200,
      15_000,
      'a write with one member down',
    );

    await second!.kill();
    // Past the lease, whatever the broker believed, no write can be committed.
    let refused = 0;
    const deadline = Date.now() + 4000;
    while (Date.now() < deadline) {
      for (const n of nodes) {
        const started = Date.now();
        const a = await n.call('POST', '/proxies/meta', proxyBody(), 10_000);
        const took = Date.now() - started;
        assertTransient(a);
        // One etcd deadline for the commit, one for the forward's hop: never a hang.
        assert.ok(took < ETCD_TIMEOUT_MS * 3 + 1000, `a write took ${took} ms without quorum`);
        refused += 1;
        const r = await n.call('GET', '/proxies/addresses');
        assert.equal(r.status, 200, 'reads are served without quorum');
      }
    }
    assert.ok(refused > 0);
    // Each broker says how stale its snapshot may be.
    for (const n of nodes) {
      await waitFor(
        async () => metric((await n.call('GET', '/metrics')).text, 'etcd_stale_seconds') > 0,
        10_000,
        'etcd_stale_seconds above 0',
      );
    }

    first!.start('existing');
    second!.start('existing');
    await etcd.waitHealthy();
    await waitFor(
      async () => (await nodes[0]!.call('POST', '/proxies/meta', proxyBody())).status === 200,
      20_000,
      'writes resuming with quorum back',
    );
    assert.ok(third!.child !== null);
  } finally {
    await stopGroup(nodes);
    for (const m of etcd.members)
      if (!m.child || m.child.exitCode !== null || m.child.signalCode !== null) m.start('existing');
    await etcd.waitHealthy();
  }
});

/** The value of an unlabelled (or first labelled) sample in a Prometheus text exposition. */
function metric(text: string, name: string, labels = ''): number {
  const line = text
    .split('\n')
    .find((l) => l.startsWith(`${name}${labels} `) || (labels === '' && l.startsWith(`${name}{`)));
  return line === undefined ? NaN : Number(line.slice(line.lastIndexOf(' ') + 1));
}

test('an empty prefix imports the metadata file (the way over from file mode); metrics show roles, commits and leadership changes', async () => {
  const source = await startGroup(1);
  const imported: Node[] = [];
  try {
    const [only] = source;
    for (let i = 0; i < 6; i++) assert.equal((await only!.call('POST', '/proxies/meta', proxyBody())).status, 200);
    assert.equal((await only!.call('POST', '/clusters/meta/imported', { node_number: 4 })).status, 200);
    const exported = (await only!.call('GET', '/metadata')).text;
    const dir = tempDir();
    writeFileSync(join(dir, 'metadata'), exported);
    const prefix = `/import-${process.pid}-${++prefixes}/`;
    const env = {
      UNDERMOON_STORAGE: 'etcd',
      UNDERMOON_ETCD_ENDPOINTS: etcd.endpoints.join(','),
      UNDERMOON_ETCD_PREFIX: prefix,
      UNDERMOON_ETCD_LEASE_TTL: String(LEASE_TTL_SECONDS),
      UNDERMOON_RECOVER_FROM_META_FILE: 'true',
      UNDERMOON_META_FILENAME: join(dir, 'metadata'),
    };
    for (let i = 0; i < 2; i++) {
      const port = ownPort();
      const broker = await startBroker({ env: { ...env, UNDERMOON_ADDRESS: `${processLoopback()}:${port}` } });
      imported.push(new Node(broker, processLoopback()));
    }
    await waitFor(() => imported.some((n) => n.leads), 10_000, 'a leader');
    for (const n of imported) {
      // Same document; key order may differ (etcd returns keys sorted).
      await waitFor(async () => isDeepStrictEqual(await doc(n), JSON.parse(exported)), 10_000, 'the imported document');
    }
    const leader = leaderOf(imported);
    const follower = imported.find((n) => n !== leader)!;
    const forwarded = await follower.call('POST', '/proxies/meta', proxyBody());
    assert.equal(forwarded.status, 200, forwarded.text);
    const leaderMetrics = (await leader.call('GET', '/metrics')).text;
    assert.equal(metric(leaderMetrics, 'broker_role', '{role="leader"}'), 1);
    assert.ok(metric(leaderMetrics, 'etcd_commit_seconds_count') >= 1);
    const followerMetrics = (await follower.call('GET', '/metrics')).text;
    assert.equal(metric(followerMetrics, 'broker_role', '{role="follower"}'), 1);
    assert.equal(metric(followerMetrics, 'broker_leadership_changes_total'), 0);
  } finally {
    await stopGroup(source);
    await stopGroup(imported);
  }
});

interface Op {
  readonly kind: 'proxy' | 'cluster' | 'epoch';
  readonly key: string | number;
  readonly invokedAt: number;
  readonly completedAt: number;
}

test('history: every write acknowledged before a read started is in that read, on the leader at once and on followers within the lag bound', async () => {
  const nodes = await startGroup(3);
  try {
    const leader = leaderOf(nodes);
    // Spare proxies for cluster creations: 2 hosts x 40.
    for (let i = 0; i < 40; i++) {
      for (const h of [1, 2]) {
        const body = {
          proxy_address: `10.200.${h}.${i}:6000`,
          nodes: [`10.200.${h}.${i}:7000`, `10.200.${h}.${i}:7001`],
          host: `spare${h}`,
        };
        assert.equal((await leader.call('POST', '/proxies/meta', body)).status, 200);
      }
    }
    const ops: Op[] = [];
    const checks: { node: Node; startedAt: number; doc: Doc }[] = [];
    let stop = false;
    let clusterSeq = 0;
    let epochTarget = 1000;
    const client = async (i: number) => {
      for (let k = 0; !stop; k++) {
        const node = nodes[(i + k) % nodes.length]!;
        const invokedAt = performance.now();
        let op: Omit<Op, 'invokedAt' | 'completedAt'>;
        let a: HttpAnswer;
        if (k % 5 === 4) {
          const name = `c${++clusterSeq}`;
          a = await node.call('POST', `/clusters/meta/${name}`, { node_number: 4 });
          op = { kind: 'cluster', key: name };
        } else if (k % 5 === 3) {
          epochTarget += 10;
          const target = epochTarget;
          a = await node.call('PUT', `/epoch/${target}`);
          op = { kind: 'epoch', key: target };
        } else {
          const body = proxyBody();
          a = await node.call('POST', '/proxies/meta', body);
          op = { kind: 'proxy', key: body.proxy_address };
        }
        if (a.status === 200) ops.push({ ...op, invokedAt, completedAt: performance.now() });
      }
    };
    const checker = async (node: Node) => {
      while (!stop) {
        const startedAt = performance.now();
        checks.push({ node, startedAt, doc: await doc(node) });
      }
    };
    const load = [0, 1, 2].map(client).concat(nodes.map(checker));
    await waitFor(() => ops.length >= 60, 30_000, 'acknowledged writes');
    stop = true;
    await Promise.all(load);

    const LAG_BOUND_MS = 1000;
    let checked = 0;
    for (const { node, startedAt, doc: seen } of checks) {
      const bound = node === leader ? 0 : LAG_BOUND_MS;
      for (const op of ops) {
        if (op.completedAt + bound > startedAt) continue;
        checked += 1;
        if (op.kind === 'proxy') assert.ok(op.key in seen.all_proxies, `${node.origin} misses proxy ${op.key}`);
        else if (op.kind === 'cluster') assert.ok(op.key in seen.clusters, `${node.origin} misses cluster ${op.key}`);
        else
          assert.ok(seen.global_epoch >= (op.key as number), `${node.origin} epoch ${seen.global_epoch} < ${op.key}`);
      }
    }
    assert.ok(checked > 100, `only ${checked} (read, write) pairs checked`);
    console.log(`# history: ${ops.length} acknowledged writes, ${checks.length} reads, ${checked} pairs checked`);
  } finally {
    await stopGroup(nodes);
  }
});
