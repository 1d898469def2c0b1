/**
 * Crash durability (docs/operations.md#durability): with auto_update_meta_file a write is
 * answered only after it is on disk, so a broker killed with SIGKILL at any
 * moment restarts (recover_from_meta_file) with every write it acknowledged.
 *
 * Each round restarts the broker from the file, checks everything the
 * earlier rounds had acknowledged, sends a batch of writes at once and kills
 * the process once a random number of them (fewer than all) have been
 * answered, so that the kill always lands with writes still in flight.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { startBroker, tempDir } from '../helpers/broker-process.js';
import type { BrokerProcess, ExitInfo, HttpAnswer } from '../helpers/broker-process.js';

/** Rounds in all, split over lanes that run side by side (one broker and one file each). */
const ROUNDS = 100;
const LANES = 2;
const SEED = Number(process.env.E2E_SEED ?? Date.now() % 1_000_000);

/** mulberry32: a small seeded generator, so that a failing run can be replayed with E2E_SEED. */
function rng(seed: number): (n: number) => number {
  let a = seed >>> 0;
  return (n) => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return Math.floor((((t ^ (t >>> 14)) >>> 0) / 4294967296) * n);
  };
}

interface Doc {
  global_epoch: number;
  clusters: Record<string, { epoch: number }>;
  all_proxies: Record<string, unknown>;
  failures: Record<string, Record<string, number>>;
}

type ProxyWrite = { kind: 'proxy'; address: string; nodes: [string, string]; host: string };
type Write =
  | ProxyWrite
  | { kind: 'create'; name: string }
  | { kind: 'delete'; name: string }
  | { kind: 'failure'; address: string; reporter: string };

/** What the acknowledged writes so far promise about the recovered document. */
class Promises {
  readonly proxies = new Set<string>();
  readonly clusters = new Set<string>();
  readonly deleted = new Set<string>();
  readonly failures: [string, string][] = [];
  minEpoch = 0;

  /** Every promise the document breaks, described; empty when none is lost. */
  broken(doc: Doc): string[] {
    const lost: string[] = [];
    for (const p of this.proxies) if (!Object.hasOwn(doc.all_proxies, p)) lost.push(`proxy ${p}`);
    for (const c of this.clusters) if (!Object.hasOwn(doc.clusters, c)) lost.push(`cluster ${c}`);
    for (const c of this.deleted) if (Object.hasOwn(doc.clusters, c)) lost.push(`deletion of cluster ${c}`);
    for (const [a, r] of this.failures)
      if (doc.failures[a]?.[r] === undefined) lost.push(`failure report ${a} by ${r}`);
    if (doc.global_epoch < this.minEpoch) lost.push(`global_epoch ${doc.global_epoch} < ${this.minEpoch}`);
    return lost;
  }

  count(): number {
    return this.proxies.size + this.clusters.size + this.deleted.size + this.failures.length;
  }
}

function send(broker: BrokerProcess, w: Write): Promise<HttpAnswer> {
  switch (w.kind) {
    case 'proxy':
      return broker.call('POST', '/proxies/meta', { proxy_address: w.address, nodes: w.nodes, host: w.host });
    case 'create':
      return broker.call('POST', `/clusters/meta/${w.name}`, { node_number: 4 });
    case 'delete':
      return broker.call('DELETE', `/clusters/meta/${w.name}`);
    case 'failure':
      return broker.call('POST', `/failures/${w.address}/${w.reporter}`);
  }
}

function proxyWrite(lane: number, index: number): ProxyWrite {
  // Consecutive indices are on different hosts, so each round's pair can form a chunk.
  const host = index % 3;
  const ip = `127.${lane + 1}.${host}.1`;
  return {
    kind: 'proxy',
    address: `${ip}:${10000 + index}`,
    nodes: [`${ip}:${20000 + 2 * index}`, `${ip}:${20001 + 2 * index}`],
    host: `lane${lane}-host${host}`,
  };
}

interface LaneTotals {
  rounds: number;
  sent: number;
  acknowledged: number;
  checked: number;
  /** Rounds whose kill came before every write was answered. */
  killedInFlight: number;
  /** Temporary files found after a kill (each removed by the next start). */
  strayTempFiles: number;
}

async function runLane(lane: number, rounds: number): Promise<LaneTotals> {
  const random = rng(SEED + lane);
  const dir = tempDir();
  const metaFile = join(dir, 'metadata');
  const env = {
    UNDERMOON_META_FILENAME: metaFile,
    UNDERMOON_AUTO_UPDATE_META_FILE: 'true',
    UNDERMOON_RECOVER_FROM_META_FILE: 'true',
    // Reports must outlive the run, so that a missing one means lost, not expired.
    UNDERMOON_FAILURE_TTL: '1000000',
  };
  const promised = new Promises();
  const totals: LaneTotals = { rounds: 0, sent: 0, acknowledged: 0, checked: 0, killedInFlight: 0, strayTempFiles: 0 };
  let nextProxy = 0;

  let broker = await startBroker({ env });
  try {
    // A few free proxies first, so that the first clusters can be created.
    // And one on a host of its own that takes every failure report: reports
    // on unregistered addresses are not stored.
    const reported: ProxyWrite = {
      kind: 'proxy',
      address: `127.${lane + 1}.9.1:39999`,
      nodes: [`127.${lane + 1}.9.1:1`, `127.${lane + 1}.9.1:2`],
      host: `lane${lane}-reported`,
    };
    for (let i = 0; i < 7; i++) {
      const w = i === 6 ? reported : proxyWrite(lane, nextProxy++);
      const answer = await send(broker, w);
      assert.equal(answer.status, 200, answer.text);
      promised.proxies.add(w.address);
      totals.sent += 1;
      totals.acknowledged += 1;
    }

    for (let round = 0; round < rounds; round++) {
      const context = `lane ${lane} round ${round} (E2E_SEED=${SEED})`;
      const beforeAnswer = await broker.call('GET', '/metadata');
      assert.equal(beforeAnswer.status, 200, `${context}: ${beforeAnswer.text}`);
      const before = beforeAnswer.json<Doc>();

      const writes: Write[] = [
        proxyWrite(lane, nextProxy++),
        proxyWrite(lane, nextProxy++),
        { kind: 'create', name: `l${lane}c${round}` },
      ];
      const oldest = Object.keys(before.clusters).sort(
        (a, b) => Number(a.slice(a.indexOf('c') + 1)) - Number(b.slice(b.indexOf('c') + 1)),
      )[0];
      if (oldest !== undefined && random(2) === 0) writes.push({ kind: 'delete', name: oldest });
      writes.push({ kind: 'failure', address: reported.address, reporter: `coord${random(3)}-r${round}` });
      writes.push({ kind: 'failure', address: reported.address, reporter: `coord${random(3)}-r${round}b` });

      // Kill once `killAfter` answers are in: always fewer than the writes sent.
      // With 0, kill after a short random delay, possibly before any is read.
      const killAfter = random(writes.length);
      let answered = 0;
      let answeredAtKill = -1;
      let killed: Promise<ExitInfo> | null = null;
      const current = broker;
      const kill = () => {
        if (killed === null) answeredAtKill = answered;
        return (killed ??= current.kill());
      };
      if (killAfter === 0) setTimeout(() => void kill(), random(8));
      const outcomes = await Promise.all(
        writes.map((w) =>
          send(current, w).then(
            (a) => {
              if (++answered >= killAfter && killAfter > 0) void kill();
              return a;
            },
            () => null, // cut off by the kill: not acknowledged
          ),
        ),
      );
      const exit = await kill(); // also when every request failed before reaching the count
      assert.equal(exit.signal, 'SIGKILL', `${context}: the broker died of something else: ${current.describe()}`);
      if (answeredAtKill < writes.length) totals.killedInFlight += 1;

      let acked = 0;
      writes.forEach((w, i) => {
        if (w.kind === 'delete') promised.clusters.delete(w.name); // applied or not, no longer promised present
        const answer = outcomes[i];
        if (!answer || answer.status < 200 || answer.status >= 300) return;
        acked += 1;
        if (w.kind === 'proxy') promised.proxies.add(w.address);
        else if (w.kind === 'create') promised.clusters.add(w.name);
        else if (w.kind === 'delete') promised.deleted.add(w.name);
        else promised.failures.push([w.address, w.reporter]);
      });
      // Every successful write bumps the epoch by at least one.
      promised.minEpoch = before.global_epoch + acked;
      totals.sent += writes.length;
      totals.acknowledged += acked;

      // A kill in the middle of a write leaves its temporary file; the restart removes it.
      totals.strayTempFiles += readdirSync(dir).filter((f) => f !== 'metadata').length;
      // The restart is the consistency check: the file goes through the same checks as PUT /metadata.
      broker = await startBroker({ env });
      assert.deepEqual(readdirSync(dir), ['metadata'], `${context}: the restart leaves nothing but the file`);
      const after = (await broker.call('GET', '/metadata')).json<Doc>();
      assert.deepEqual(
        after,
        JSON.parse(readFileSync(metaFile, 'utf8')),
        `${context}: the broker serves what the file holds`,
      );
      assert.deepEqual(promised.broken(after), [], `${context}: acknowledged writes lost`);
      totals.checked = promised.count();
      totals.rounds += 1;
    }
  } finally {
    await broker.stop().catch(() => broker.kill());
  }
  return totals;
}

test('durability: SIGKILL with writes in flight never loses an acknowledged write', { timeout: 240_000 }, async () => {
  const perLane = Array.from({ length: LANES }, (_, i) => Math.floor(ROUNDS / LANES) + (i < ROUNDS % LANES ? 1 : 0));
  const settled = await Promise.allSettled(perLane.map((rounds, lane) => runLane(lane, rounds)));
  const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed) throw failed.reason;
  const lanes = settled.map((s) => (s as PromiseFulfilledResult<LaneTotals>).value);
  const sum = (k: keyof LaneTotals) => lanes.reduce((n, l) => n + l[k], 0);
  console.log(
    `durability: ${sum('rounds')} kill/restart rounds (${sum('killedInFlight')} killed with writes unanswered), ${sum('sent')} writes sent, ${sum('acknowledged')} acknowledged, ` +
      `0 lost (${sum('checked')} acknowledged effects still checked at the end), ${sum('strayTempFiles')} temporary files left by kills and removed at restart, seed ${SEED}`,
  );
  assert.equal(sum('rounds'), ROUNDS);
  assert.ok(sum('acknowledged') > ROUNDS, 'enough writes were acknowledged for the test to mean something');
  assert.ok(sum('acknowledged') < sum('sent'), 'some writes were cut off by the kills');
});
