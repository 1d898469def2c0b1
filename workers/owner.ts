/**
 * The owner thread: the only writer. It holds the mutable store and runs
 * every write through the engine (src/owner/engine.ts): commands in arrival
 * order, each made durable by the storage (the metadata file, or etcd when
 * configured), published to the readers, and only then answered. Its own
 * timers (failure-report expiry, the periodic file write, replication) go
 * through the same queue.
 */
import { BroadcastChannel, parentPort, Worker, workerData } from 'node:worker_threads';
import { storeFromValidDocument } from '../src/domain/commands/restore.js';
import { BrokerError } from '../src/domain/errors.js';
import { emptyStore, storeToDocument } from '../src/domain/store.js';
import type { MutableStore } from '../src/domain/types.js';
import { createLogger } from '../src/log.js';
import { OwnerEngine } from '../src/owner/engine.js';
import { storeFromSnapshotText } from '../src/owner/rebuild.js';
import { loadMetaFile, removeStaleTempFiles } from '../src/persistence.js';
import { replicateOnce } from '../src/replication.js';
import type {
  CommandReply,
  OwnerInbound,
  OwnerOptions,
  OwnerOutbound,
  RestoreOutcome,
  RestoreTask,
} from '../src/rpc/messages.js';
import { nowSeconds } from '../src/service/clock.js';
import { ReplySlotWriter } from '../src/rpc/reply-slot.js';
import { SnapshotPublisher } from '../src/snapshot/publisher.js';
import { FileStorage } from '../src/storage/file.js';
import type { EtcdStorage } from '../src/storage/etcd.js';

const options = workerData as OwnerOptions;
const port = parentPort!;
const log = createLogger({ debug: options.debug }).child({ thread: 'owner' });
const post = (message: OwnerOutbound) => options.outbound.postMessage(message);
const replySlot = new ReplySlotWriter(options.replySlot);
const fileStorage = new FileStorage({
  metaFilename: options.metaFilename,
  autoUpdateMetaFile: options.autoUpdateMetaFile,
  onWritten: (seconds) => post({ type: 'event', event: { kind: 'metaFileWritten', seconds } }),
});

/** The metadata file, checked as PUT /metadata checks a document; null when there is none. */
async function storeFromMetaFile(): Promise<MutableStore | null> {
  const document = loadMetaFile(options.metaFilename);
  if (document === null) {
    log.warn({ file: options.metaFilename }, 'no metadata file to recover from');
    return null;
  }
  try {
    // The schemas are loaded only here: they cost a noticeable part of start-up.
    const { parseMetaDocument } = await import('../src/wire/schemas.js');
    const store = storeFromValidDocument(parseMetaDocument(document), nowSeconds());
    log.info(
      {
        file: options.metaFilename,
        globalEpoch: store.globalEpoch,
        clusters: store.clusters.size,
        proxies: store.proxies.size,
      },
      'recovered metadata',
    );
    return store;
  } catch (err) {
    if (err instanceof BrokerError) {
      throw new Error(
        `metadata file ${options.metaFilename} is not usable (${err.code}): ${err.message}; it was left untouched`,
        { cause: err },
      );
    }
    throw err;
  }
}

/** How long a whole-store replacement waits for the readers to decode it before it is published anyway. */
const PRELOAD_TIMEOUT_MS = 60_000;

function publisherFor(store: MutableStore): SnapshotPublisher {
  const preload = options.preload;
  if (preload === undefined) return new SnapshotPublisher(options.buffers, store);
  const channel = new BroadcastChannel(preload.channel);
  channel.unref();
  return new SnapshotPublisher(options.buffers, store, 0, {
    readers: preload.readers,
    announce: (staged) => channel.postMessage(staged),
    timeoutMs: PRELOAD_TIMEOUT_MS,
  });
}

async function startFileMode(): Promise<OwnerEngine> {
  const store = (options.recoverFromMetaFile ? await storeFromMetaFile() : null) ?? emptyStore();
  const engine = new OwnerEngine(store, publisherFor(store), fileStorage, engineOptions);
  if (options.autoUpdateMetaFile || options.updateMetaFileIntervalSec > 0) {
    const removed = removeStaleTempFiles(options.metaFilename);
    if (removed.length > 0)
      log.info({ files: removed }, 'removed temporary metadata files left by a process that died while writing');
  }
  return engine;
}

let etcd: EtcdStorage | null = null;

async function startEtcdMode(etcdOptions: NonNullable<OwnerOptions['etcd']>): Promise<OwnerEngine> {
  const { EtcdStorage } = await import('../src/storage/etcd.js');
  const storage = new EtcdStorage(etcdOptions, log, {
    onRole: (role, leader) => post({ type: 'event', event: { kind: 'role', role, leader } }),
    onChanged: (changes) => post({ type: 'changed', changes }),
    onCommit: (seconds) => post({ type: 'event', event: { kind: 'etcdCommit', seconds } }),
    onWatchLag: (revisions, staleSeconds) =>
      post({ type: 'event', event: { kind: 'watchLag', revisions, staleSeconds } }),
  });
  etcd = storage;
  const { store, revision } = await storage.load();
  // An empty prefix takes the metadata file, if asked to: the way over from file mode.
  const imported = !storage.initialised && options.recoverFromMetaFile ? await storeFromMetaFile() : null;
  const engine = new OwnerEngine(store, publisherFor(store), storage, engineOptions);
  engine.revision = revision;
  await storage.start(engine, revision, () => imported);
  return engine;
}

const engineOptions = { settings: options.settings, debug: options.debug, log, now: nowSeconds };

let engine: OwnerEngine;
try {
  engine = options.etcd ? await startEtcdMode(options.etcd) : await startFileMode();
} catch (err) {
  post({ type: 'fatal', message: err instanceof Error ? err.message : String(err) });
  process.exit(1);
}

const persistsFile = !options.etcd && (options.autoUpdateMetaFile || options.updateMetaFileIntervalSec > 0);

function writeFile(reason: string): void {
  try {
    fileStorage.write(engine.store);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    post({ type: 'event', event: { kind: 'persistFailure', message } });
    log.error({ err: message }, `${reason} metadata file write failed`);
  }
}

/** The one restore being parsed and checked, if any. */
let restoring = false;

/**
 * Parses and checks a restore's body in a worker of its own, so that neither
 * this thread nor the HTTP thread stalls on a document of hundreds of
 * megabytes; only the swap then takes the command queue. One at a time.
 */
function restore(id: number, body: ArrayBuffer): void {
  const refuse = (reply: CommandReply) =>
    post({
      type: 'reply',
      id,
      reply,
      changes: null,
      timings: { kind: 'refused', applyMs: 0, persistMs: 0, publishMs: 0 },
    });
  if (restoring) return refuse({ ok: false, generation: engine.generation, error: { code: 'RESTORE_IN_PROGRESS' } });
  restoring = true;
  const started = performance.now();
  const task: RestoreTask = { body, now: nowSeconds() };
  const worker = new Worker(new URL('./restore.js', import.meta.url), { workerData: task, transferList: [body] });
  let settled = false;
  const finish = (outcome: RestoreOutcome) => {
    if (settled) return;
    settled = true;
    void worker.terminate();
    const checkMs = performance.now() - started;
    if (!outcome.ok) {
      restoring = false;
      if (outcome.bug) log.error({ err: outcome.bug }, 'restore check failed unexpectedly');
      return refuse({ ok: false, generation: engine.generation, error: outcome.error });
    }
    const text = { bytes: outcome.snapshot, length: outcome.length };
    // The check and this thread's rebuild of the store count as the restore's apply time.
    let preparedMs = checkMs;
    void storeFromSnapshotText(text)
      .then((built) => {
        preparedMs = performance.now() - started;
        return engine.execute({ kind: 'restore', built }, text);
      })
      .then(({ reply, changes, timings }) =>
        post({ type: 'reply', id, reply, changes, timings: { ...timings, applyMs: timings.applyMs + preparedMs } }),
      )
      .catch((err: unknown) => {
        log.error({ err: String(err) }, 'restore failed unexpectedly');
        refuse({ ok: false, generation: engine.generation, error: { code: 'INTERNAL_ERROR' } });
      })
      .finally(() => (restoring = false));
  };
  worker.once('message', finish);
  worker.once('error', (err) => finish({ ok: false, error: { code: 'INTERNAL_ERROR' }, bug: err.message }));
  worker.once('exit', (code) =>
    finish({ ok: false, error: { code: 'INTERNAL_ERROR' }, bug: `restore worker exited with code ${code}` }),
  );
}

port.on('message', (message: OwnerInbound) => {
  if (message.type === 'command') {
    void engine.execute(message.cmd).then(({ reply, changes, timings }) => {
      const answer: OwnerOutbound = { type: 'reply', id: message.id, reply, changes, timings };
      if (!replySlot.offer(message.id, answer)) post(answer);
    });
  } else if (message.type === 'restore') {
    restore(message.id, message.body);
  } else if (message.type === 'close') {
    stopTimers();
    void engine
      .serial(async () => {
        if (persistsFile) writeFile('final');
        await etcd?.close();
      })
      .finally(() => {
        post({ type: 'closed' });
        port.close();
      });
  }
});

// Expired failure reports are forgotten here, on a timer, so reads never write.
const timers: NodeJS.Timeout[] = [];
timers.push(
  setInterval(() => {
    const now = nowSeconds();
    let expired = false;
    for (const reports of engine.store.failures.values()) {
      for (const at of reports.values()) if (now - at >= options.settings.failureTtl) expired = true;
    }
    if (!expired || (etcd !== null && etcd.currentRole !== 'leader')) return;
    void engine.execute({ kind: 'pruneFailures', ttlSeconds: options.settings.failureTtl }).then(({ changes }) => {
      if (changes) post({ type: 'changed', changes });
    });
  }, 1000),
);
if (!options.etcd && options.updateMetaFileIntervalSec > 0) {
  timers.push(
    setInterval(() => void engine.serial(() => writeFile('periodic')), options.updateMetaFileIntervalSec * 1000),
  );
}
if (options.syncMetaIntervalSec > 0 && options.replicaAddresses.length > 0) {
  let syncing = false;
  timers.push(
    setInterval(() => {
      if (syncing) return; // a slow replica must not stack up copies of the document
      syncing = true;
      const body = JSON.stringify(storeToDocument(engine.store));
      void replicateOnce([...options.replicaAddresses], body, { token: options.apiToken || undefined })
        .then((results) => {
          for (const r of results) {
            if (r.ok) continue;
            post({
              type: 'event',
              event: { kind: 'replicationFailure', address: r.address, message: r.error ?? 'failed' },
            });
            log.warn({ replica: r.address, err: r.error }, 'replication failed; retrying at the next interval');
          }
        })
        .finally(() => (syncing = false));
    }, options.syncMetaIntervalSec * 1000),
  );
}
for (const t of timers) t.unref();

function stopTimers(): void {
  for (const t of timers) clearInterval(t);
}

post({ type: 'ready', generation: engine.generation, globalEpoch: engine.store.globalEpoch });
