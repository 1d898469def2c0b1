/**
 * etcd mode: several brokers over one etcd cluster. One broker at a time is
 * the leader, elected through a key bound to its lease; only the leader
 * commits, each write in one transaction guarded by that key's creation
 * revision, so a broker that lost its lease (paused, partitioned) can never
 * commit again. Every broker, leader included, follows the keys with a
 * watch from a known revision and publishes what it sees to its readers.
 *
 * Runs on the owner thread. Everything that touches the store goes through
 * the engine's queue, so watch events never interleave with a command.
 */
import { readFileSync } from 'node:fs';
import { noop } from 'cockatiel';
import { Etcd3 } from 'etcd3';
import type { IOptions, Lease, Namespace, Watcher } from 'etcd3';
import type { MutableStore } from '../domain/types.js';
import type { Logger } from '../log.js';
import type { ChangeSummary, EtcdOptions } from '../rpc/messages.js';
import {
  applyKeyEvents,
  batchWrites,
  CURRENT_KEY,
  FailedOrder,
  generationPrefix,
  LEADER_KEY,
  storeFromKeys,
  writesForChanges,
  writesForStore,
} from './etcd-layout.js';
import type { KeyEvent, KeyWrite } from './etcd-layout.js';
import { StorageError } from './storage.js';
import type { CommitRequest, DurableTarget, Storage } from './storage.js';

export type Role = 'leader' | 'follower';

export interface LeaderInfo {
  readonly id: string;
  readonly url: string;
}

export interface EtcdEvents {
  /** This broker's role or the known leader changed. */
  onRole(role: Role, leader: LeaderInfo | null): void;
  /** A change from etcd was published (followers, reloads). */
  onChanged(changes: ChangeSummary): void;
  onCommit(seconds: number): void;
  /** Revision lag and seconds since etcd last answered this broker. */
  onWatchLag(revisions: number, staleSeconds: number): void;
}

/** Bytes of writes per transaction, well under etcd's 1.5 MiB request limit. */
const MAX_TXN_BYTES = 1024 * 1024;
/** Keys per range request while loading. */
const RANGE_PAGE = 2000;

function clientOptions(o: EtcdOptions): IOptions {
  const options: IOptions = {
    hosts: [...o.endpoints],
    dialTimeout: o.timeoutMs,
    defaultCallOptions: (context) => (context.isStream ? {} : { deadline: Date.now() + o.timeoutMs }),
    // Retries are ours to decide: a retried commit could outlive its deadline.
    faultHandling: { host: () => noop, global: noop },
    // A large fleet's range pages and watch batches exceed gRPC's 4 MiB default.
    grpcOptions: { 'grpc.max_receive_message_length': 256 * 1024 * 1024 },
  };
  if (o.caFile) {
    options.credentials = {
      rootCertificate: readFileSync(o.caFile),
      ...(o.keyFile ? { privateKey: readFileSync(o.keyFile) } : {}),
      ...(o.certFile ? { certChain: readFileSync(o.certFile) } : {}),
    };
  }
  if (o.username) options.auth = { username: o.username, password: o.password ?? '' };
  return options;
}

function text(buf: Buffer | string): string {
  return typeof buf === 'string' ? buf : buf.toString('utf8');
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export class EtcdStorage implements Storage {
  private readonly client: Etcd3;
  private readonly ns: Namespace;
  private engine: DurableTarget | null = null;
  private watcher: Watcher | null = null;
  private lease: Lease | null = null;
  private role: Role = 'follower';
  private leader: LeaderInfo | null = null;
  /** Creation revision of our leader key while we lead: the guard of every commit. */
  private leaderRevision = 0;
  /** The data generation `current` names; 0 before the prefix is initialised. */
  private gen = 0;
  private readonly order = new FailedOrder();
  /** A commit's outcome is unknown: reload from etcd before the next write. */
  private reloadNeeded = false;
  private closed = false;
  private campaigning = false;
  private lastContact = Date.now();
  private lastSeenRevision = 0;
  private readonly timers: NodeJS.Timeout[] = [];

  constructor(
    private readonly options: EtcdOptions,
    private readonly log: Logger,
    private readonly events: EtcdEvents,
  ) {
    this.client = new Etcd3(clientOptions(options));
    this.ns = this.client.namespace(options.prefix);
  }

  /** Loads the newest document (an empty store when the prefix is empty) and the revision it was read at. */
  async load(): Promise<{ store: MutableStore; revision: number }> {
    const { kvs, revision } = await this.rangeAll('');
    const current = kvs.find((kv) => kv.key === CURRENT_KEY);
    const leader = kvs.find((kv) => kv.key === LEADER_KEY);
    if (leader) this.leader = parseLeader(leader.value);
    this.gen = current ? Number(current.value) : 0;
    const store = this.gen > 0 ? storeFromKeys(kvs, this.gen, this.order) : null;
    this.lastSeenRevision = revision;
    return { store: store ?? (await import('../domain/store.js')).emptyStore(), revision };
  }

  /** Whether the prefix holds a document yet. */
  get initialised(): boolean {
    return this.gen > 0;
  }

  /**
   * Starts following etcd from `revision` and campaigning. `initialStore`
   * is written as the first document if this broker wins an empty prefix.
   */
  async start(engine: DurableTarget, revision: number, initialStore: () => MutableStore | null): Promise<void> {
    this.engine = engine;
    this.initialStore = initialStore;
    this.watcher = await this.ns
      .watch()
      .prefix('')
      .startRevision(String(revision + 1))
      .create();
    this.watcher.on('data', (res) => {
      this.lastContact = Date.now();
      const events = res.events.map((ev) => ({
        revision: Number(ev.kv.mod_revision),
        key: text(ev.kv.key),
        value: ev.type === 'Delete' ? null : text(ev.kv.value),
      }));
      void engine
        .serial(() => this.onWatchEvents(events))
        .catch((err: unknown) => {
          this.log.error({ err: describe(err) }, 'applying changes from etcd failed; reloading');
          this.scheduleReload();
        });
    });
    this.watcher.on('error', (err) => this.log.warn({ err: describe(err) }, 'etcd watch error; reconnecting'));
    this.watcher.on('disconnected', (err) =>
      this.log.warn({ err: describe(err) }, 'etcd watch disconnected; reconnecting'),
    );
    this.timers.push(setInterval(() => void this.probe(), 1000));
    for (const t of this.timers) t.unref();
    // The leader found at load is known at once, before this broker's own campaign settles.
    this.events.onRole('follower', this.leader);
    void this.campaign();
  }

  private initialStore: () => MutableStore | null = () => null;

  writable(): StorageError | null {
    if (this.role !== 'leader') {
      return this.leader
        ? new StorageError('NOT_LEADER', `broker ${this.leader.id} at ${this.leader.url} is the leader`)
        : new StorageError('NO_LEADER', 'no broker holds the leadership');
    }
    if (this.reloadNeeded)
      return new StorageError('STORAGE_UNAVAILABLE', 'reloading from etcd after an uncertain commit');
    return null;
  }

  async commit(request: CommitRequest): Promise<number> {
    const started = performance.now();
    try {
      const writes = request.replacesStore
        ? null
        : writesForChanges(request.next, request.changes, this.gen, this.order);
      const fits =
        writes !== null &&
        writes.length <= this.options.maxTxnOps &&
        batchWrites(writes, Infinity, MAX_TXN_BYTES).length <= 1;
      const revision = fits ? await this.commitWrites(writes) : await this.commitWhole(request.next);
      this.events.onCommit((performance.now() - started) / 1000);
      return revision;
    } catch (err) {
      if (err instanceof StorageError) {
        if (err.code === 'NOT_LEADER') this.stepDown('a commit found the leadership gone');
        throw err;
      }
      // The transaction may or may not have been applied: trust only etcd.
      this.scheduleReload();
      throw new StorageError('STORAGE_UNAVAILABLE', `etcd did not confirm the change: ${describe(err)}`);
    }
  }

  /** One transaction, guarded by our leadership and the generation. */
  private async commitWrites(writes: readonly KeyWrite[], extra: (() => unknown)[] = []): Promise<number> {
    let txn = this.ns
      .if(LEADER_KEY, 'Create', '==', this.leaderRevision)
      .and(CURRENT_KEY, 'Value', '==', String(this.gen));
    const ops = writes.map((w) => (w.value === null ? this.ns.delete().key(w.key) : this.ns.put(w.key).value(w.value)));
    txn = txn.then(...ops, ...(extra.map((f) => f()) as never[]));
    const res = await txn.commit();
    this.lastContact = Date.now();
    if (!res.succeeded) throw new StorageError('NOT_LEADER', 'the leadership guard failed: another broker leads now');
    return Number(res.header.revision);
  }

  /**
   * Writes the whole store under the next generation, in as many
   * transactions as it takes, then moves `current` to it and deletes the
   * old generation in one transaction.
   */
  private async commitWhole(store: MutableStore): Promise<number> {
    const next = this.gen + 1;
    const guard = () =>
      this.ns.if(LEADER_KEY, 'Create', '==', this.leaderRevision).and(CURRENT_KEY, 'Value', '==', String(this.gen));
    // Left over by a leader that died while writing it.
    const clean = await guard()
      .then(this.ns.delete().prefix(generationPrefix(next)))
      .commit();
    if (!clean.succeeded) throw new StorageError('NOT_LEADER', 'the leadership guard failed: another broker leads now');
    const writes = writesForStore(store, next, this.order);
    for (const batch of batchWrites(writes, this.options.maxTxnOps, MAX_TXN_BYTES)) {
      const res = await guard()
        .then(...batch.map((w) => this.ns.put(w.key).value(w.value ?? '')))
        .commit();
      if (!res.succeeded) throw new StorageError('NOT_LEADER', 'the leadership guard failed: another broker leads now');
    }
    // One then(): each call replaces the transaction's operations.
    const flipOps = [this.ns.put(CURRENT_KEY).value(String(next)), this.ns.delete().prefix(generationPrefix(this.gen))];
    const res = await guard()
      .then(...flipOps)
      .commit();
    if (!res.succeeded) throw new StorageError('NOT_LEADER', 'the leadership guard failed: another broker leads now');
    this.gen = next;
    return Number(res.header.revision);
  }

  private async onWatchEvents(events: readonly (KeyEvent & { revision: number })[]): Promise<void> {
    const engine = this.engine!;
    let at = 0;
    while (at < events.length) {
      const revision = events[at]!.revision;
      let end = at;
      while (end < events.length && events[end]!.revision === revision) end++;
      const batch = events.slice(at, end);
      at = end;
      if (revision > this.lastSeenRevision) this.lastSeenRevision = revision;
      for (const ev of batch) if (ev.key === LEADER_KEY) this.onLeaderKey(ev.value);
      if (revision <= engine.revision) continue;
      if (batch.some((ev) => ev.key === CURRENT_KEY)) {
        await this.reload();
        continue;
      }
      const data = batch.filter((ev) => ev.key !== LEADER_KEY);
      if (data.length === 0) continue;
      if (this.role === 'leader') {
        // Only our own commits should change the data while we lead.
        this.log.warn({ revision }, 'etcd changed behind the leader; reloading');
        await this.reload();
        continue;
      }
      const changes = engine.applyDurable((draft) => applyKeyEvents(draft, data, this.gen, this.order), revision);
      if (changes) this.events.onChanged(changes);
    }
  }

  private onLeaderKey(value: string | null): void {
    if (value === null) {
      this.leader = null;
      if (this.role === 'leader') this.stepDown('the leader key is gone');
      else this.events.onRole(this.role, null);
      void this.campaign();
      return;
    }
    this.leader = parseLeader(value);
    if (this.role === 'leader' && this.leader?.id !== this.options.brokerId)
      this.stepDown('another broker holds the leader key');
    else this.events.onRole(this.role, this.leader);
  }

  /** Reads the whole current document and publishes it in place of ours. */
  private async reload(): Promise<void> {
    const engine = this.engine!;
    const { kvs, revision } = await this.rangeAll('');
    const current = kvs.find((kv) => kv.key === CURRENT_KEY);
    this.gen = current ? Number(current.value) : 0;
    const leader = kvs.find((kv) => kv.key === LEADER_KEY);
    const known = this.leader;
    this.leader = leader ? parseLeader(leader.value) : null;
    if (this.role === 'follower' && (known?.id !== this.leader?.id || known?.url !== this.leader?.url)) {
      this.events.onRole('follower', this.leader);
    }
    if (this.gen === 0) return;
    const store = storeFromKeys(kvs, this.gen, this.order);
    this.events.onChanged(await engine.replaceDurable(store, revision));
    this.reloadNeeded = false;
  }

  private reloading = false;

  private scheduleReload(): void {
    this.reloadNeeded = true;
    if (this.reloading || this.closed) return;
    this.reloading = true;
    const attempt = () => {
      if (this.closed) return;
      this.engine!.serial(() => this.reload())
        .then(() => (this.reloading = false))
        .catch((err: unknown) => {
          this.log.warn({ err: describe(err) }, 'reload from etcd failed; retrying');
          setTimeout(attempt, 500).unref();
        });
    };
    attempt();
  }

  /** Tries to become the leader; on losing, waits for the leader key to go. */
  private campaignNotBefore = 0;

  private async campaign(): Promise<void> {
    if (this.campaigning || this.closed || this.role === 'leader') return;
    this.campaigning = true;
    try {
      for (;;) {
        const wait = this.campaignNotBefore - Date.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        if (this.closed) return;
        try {
          const lease = await this.ensureLease();
          const value = JSON.stringify({ id: this.options.brokerId, url: this.options.advertiseUrl });
          const res = await this.ns
            .if(LEADER_KEY, 'Create', '==', 0)
            .then(
              this.ns
                .put(LEADER_KEY)
                .value(value)
                .lease(await lease.grant()),
            )
            .else(this.ns.get(LEADER_KEY))
            .commit();
          this.lastContact = Date.now();
          if (!res.succeeded) {
            const kv = res.responses[0]?.response_range?.kvs[0];
            this.leader = kv ? parseLeader(text(kv.value)) : null;
            this.events.onRole('follower', this.leader);
            // The watch calls campaign() again when the key goes away.
            if (this.leader) return;
            continue;
          }
          await this.engine!.serial(() => this.becomeLeader(Number(res.header.revision)));
          return;
        } catch (err) {
          this.log.warn({ err: describe(err) }, 'campaign for leadership failed; retrying');
          await new Promise((r) => setTimeout(r, 250));
        }
      }
    } finally {
      this.campaigning = false;
    }
  }

  private async becomeLeader(leaderRevision: number): Promise<void> {
    this.leaderRevision = leaderRevision;
    try {
      // Catch up with everything the previous leader committed.
      await this.reload();
      if (this.gen === 0) {
        const first = this.initialStore();
        if (first) {
          const revision = await this.commitWholeAsFirst(first);
          this.events.onChanged(await this.engine!.replaceDurable(first, revision));
        } else {
          const { emptyStore } = await import('../domain/store.js');
          const revision = await this.commitWholeAsFirst(emptyStore());
          this.engine!.revision = revision;
        }
      }
    } catch (err) {
      this.log.error({ err: describe(err) }, 'could not take over as leader; resigning');
      this.leaderRevision = 0;
      // Give another broker the chance before trying again.
      this.campaignNotBefore = Date.now() + 2000;
      await this.resign();
      return;
    }
    this.role = 'leader';
    this.leader = { id: this.options.brokerId, url: this.options.advertiseUrl };
    this.log.info({ revision: leaderRevision, generation: this.gen }, 'elected leader');
    this.events.onRole('leader', this.leader);
  }

  /** The first document of an empty prefix; the guard is that `current` does not exist yet. */
  private async commitWholeAsFirst(store: MutableStore): Promise<number> {
    const writes = writesForStore(store, 1, this.order);
    const guard = () => this.ns.if(LEADER_KEY, 'Create', '==', this.leaderRevision).and(CURRENT_KEY, 'Create', '==', 0);
    const clean = await guard()
      .then(this.ns.delete().prefix(generationPrefix(1)))
      .commit();
    if (!clean.succeeded) throw new StorageError('NOT_LEADER', 'the prefix was initialised by another broker');
    for (const batch of batchWrites(writes, this.options.maxTxnOps, MAX_TXN_BYTES)) {
      const res = await guard()
        .then(...batch.map((w) => this.ns.put(w.key).value(w.value ?? '')))
        .commit();
      if (!res.succeeded) throw new StorageError('NOT_LEADER', 'the prefix was initialised by another broker');
    }
    const res = await guard().then(this.ns.put(CURRENT_KEY).value('1')).commit();
    if (!res.succeeded) throw new StorageError('NOT_LEADER', 'the prefix was initialised by another broker');
    this.gen = 1;
    this.log.info({ clusters: store.clusters.size, proxies: store.proxies.size }, 'initialised an empty etcd prefix');
    return Number(res.header.revision);
  }

  private stepDown(reason: string): void {
    if (this.role !== 'leader') return;
    this.role = 'follower';
    this.leaderRevision = 0;
    this.log.warn({ reason }, 'stepped down from leadership');
    this.events.onRole('follower', this.leader?.id === this.options.brokerId ? null : this.leader);
    // Whatever we applied in memory that etcd does not hold must go.
    this.scheduleReload();
    void this.resign().then(() => this.campaign());
  }

  private async resign(): Promise<void> {
    const lease = this.lease;
    this.lease = null;
    if (!lease) return;
    try {
      await lease.revoke();
    } catch {
      // Expired already, or etcd unreachable: it expires by itself.
    }
  }

  private async ensureLease(): Promise<Lease> {
    if (this.lease && !this.lease.revoked()) return this.lease;
    const lease = this.client.lease(this.options.leaseTtlSeconds, { autoKeepAlive: true });
    lease.on('lost', (err) => {
      if (this.lease !== lease) return;
      this.lease = null;
      this.log.warn({ err: describe(err) }, 'etcd lease lost');
      if (this.role === 'leader') this.stepDown('lease lost');
      else void this.campaign();
    });
    lease.on('keepaliveSucceeded', () => (this.lastContact = Date.now()));
    this.lease = lease;
    return lease;
  }

  /** Once a second: how far behind etcd this broker may be, for /metrics. */
  private async probe(): Promise<void> {
    try {
      const res = await this.ns.get(CURRENT_KEY).exec();
      this.lastContact = Date.now();
      const latest = Number(res.header.revision);
      const applied = Math.max(this.engine?.revision ?? 0, this.lastSeenRevision);
      this.events.onWatchLag(Math.max(0, latest - applied), 0);
    } catch {
      this.events.onWatchLag(0, (Date.now() - this.lastContact) / 1000);
    }
  }

  /** Every key under `prefix` (relative), read page by page at one revision. */
  private async rangeAll(prefix: string): Promise<{ kvs: { key: string; value: string }[]; revision: number }> {
    const kvs: { key: string; value: string }[] = [];
    const end = prefixEnd(prefix);
    let start = prefix;
    let revision: number | null = null;
    for (;;) {
      let range = this.ns.getAll().inRange({ start, end }).limit(RANGE_PAGE);
      if (revision !== null) range = range.revision(revision);
      const res = await range.exec();
      this.lastContact = Date.now();
      if (revision === null) revision = Number(res.header.revision);
      for (const kv of res.kvs) kvs.push({ key: text(kv.key), value: text(kv.value) });
      if (!res.more || res.kvs.length === 0) break;
      start = `${text(res.kvs[res.kvs.length - 1]!.key)}\0`;
    }
    return { kvs, revision: revision ?? 0 };
  }

  get currentRole(): Role {
    return this.role;
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const t of this.timers) clearInterval(t);
    try {
      await this.watcher?.cancel();
    } catch {
      // closing anyway
    }
    if (this.role === 'leader') {
      this.role = 'follower';
      await this.resign();
    }
    this.client.close();
  }
}

function parseLeader(value: string): LeaderInfo | null {
  try {
    const parsed = JSON.parse(value) as Partial<LeaderInfo>;
    return typeof parsed.id === 'string' && typeof parsed.url === 'string' ? { id: parsed.id, url: parsed.url } : null;
  } catch {
    return null;
  }
}

/** The end of the key range holding every key that starts with `prefix` ('' = everything). */
function prefixEnd(prefix: string): string {
  if (prefix === '') return '\0';
  const last = prefix.charCodeAt(prefix.length - 1);
  return prefix.slice(0, -1) + String.fromCharCode(last + 1);
}
