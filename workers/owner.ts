/**
 * The owner thread: the only writer. It holds the mutable store, applies
 * commands one at a time in arrival order (HTTP writes and its own timers
 * alike), puts each change on disk when asked to, publishes it to the
 * readers, and only then answers. A change that fails to persist is rolled
 * back and never published.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { performance } from 'node:perf_hooks';
import { applyCommand } from '../src/domain/commands.js';
import type { Command } from '../src/domain/commands.js';
import { checkMetadata } from '../src/domain/check.js';
import { storeFromValidDocument } from '../src/domain/commands/restore.js';
import { emptyStore, storeToDocument } from '../src/domain/store.js';
import type { MutableStore } from '../src/domain/types.js';
import { BrokerError } from '../src/domain/errors.js';
import { createLogger } from '../src/log.js';
import { loadMetaFile, removeStaleTempFiles, writeMetaFileSync } from '../src/persistence.js';
import { replicateOnce } from '../src/replication.js';
import type { CommandReply, OwnerInbound, OwnerOptions, OwnerOutbound } from '../src/rpc/messages.js';
import { commandBody } from '../src/service/answers.js';
import { nowSeconds } from '../src/service/backend.js';
import { summarizeChanges } from '../src/service/deps.js';
import { SnapshotPublisher } from '../src/snapshot/publisher.js';

const options = workerData as OwnerOptions;
const port = parentPort!;
const log = createLogger({ debug: options.debug }).child({ thread: 'owner' });
const post = (message: OwnerOutbound) => port.postMessage(message);

function persist(store: MutableStore): number {
  const started = performance.now();
  writeMetaFileSync(options.metaFilename, JSON.stringify(storeToDocument(store)));
  const seconds = (performance.now() - started) / 1000;
  post({ type: 'event', event: { kind: 'metaFileWritten', seconds } });
  return seconds * 1000;
}

async function initialStore(): Promise<MutableStore> {
  if (!options.recoverFromMetaFile) return emptyStore();
  const document = loadMetaFile(options.metaFilename);
  if (document === null) {
    log.warn({ file: options.metaFilename }, 'no metadata file to recover from; starting empty');
    return emptyStore();
  }
  let store: MutableStore;
  try {
    // The file gets the same checks as PUT /metadata: shape, then consistency.
    // The schemas are loaded only here: they cost a noticeable part of start-up.
    const { parseMetaDocument } = await import('../src/http/schemas.js');
    store = storeFromValidDocument(parseMetaDocument(document));
  } catch (err) {
    if (err instanceof BrokerError) throw new Error(`metadata file ${options.metaFilename} is not usable (${err.code}): ${err.message}; it was left untouched`);
    throw err;
  }
  log.info({ file: options.metaFilename, globalEpoch: store.globalEpoch, clusters: store.clusters.size, proxies: store.proxies.size }, 'recovered metadata');
  return store;
}

let store: MutableStore;
let publisher: SnapshotPublisher;
try {
  store = await initialStore();
  publisher = new SnapshotPublisher(options.buffers, store);
  if (options.autoUpdateMetaFile || options.updateMetaFileIntervalSec > 0) {
    const removed = removeStaleTempFiles(options.metaFilename);
    if (removed.length > 0) log.info({ files: removed }, 'removed temporary metadata files left by a process that died while writing');
  }
} catch (err) {
  post({ type: 'fatal', message: err instanceof Error ? err.message : String(err) });
  process.exit(1);
}

class PersistError extends Error {}

/** Applies one command and publishes it; the single path for every write. */
function execute(cmd: Command): { reply: CommandReply; changes: ReturnType<typeof summarizeChanges> | null; persistMs: number; publishMs: number; applyMs: number } {
  const started = performance.now();
  let persistMs = 0;
  const beforeCommit =
    options.autoUpdateMetaFile && cmd.kind !== 'pruneFailures'
      ? (next: MutableStore) => {
          try {
            persistMs = persist(next);
          } catch (err) {
            throw new PersistError(err instanceof Error ? err.message : String(err));
          }
        }
      : undefined;
  let outcome;
  try {
    outcome = applyCommand(store, cmd, { now: nowSeconds(), migrationLimit: options.settings.migrationLimit }, beforeCommit);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    const code = err instanceof PersistError ? 'PERSISTENCE_IO_ERROR' : 'INTERNAL_ERROR';
    if (code === 'PERSISTENCE_IO_ERROR') post({ type: 'event', event: { kind: 'persistFailure', message } });
    log.error({ err: message, command: cmd.kind }, code === 'PERSISTENCE_IO_ERROR' ? 'metadata file write failed; change rolled back' : 'command failed unexpectedly; change rolled back');
    return { reply: { ok: false, generation: publisher.generation, error: { code } }, changes: null, persistMs, publishMs: 0, applyMs: performance.now() - started };
  }
  const applyMs = performance.now() - started - persistMs;
  let changes = null;
  let publishMs = 0;
  if (outcome.changes !== null) {
    const publishStart = performance.now();
    const full = cmd.kind === 'restore';
    const generation = publisher.publish(store, full ? null : outcome.changes);
    publishMs = performance.now() - publishStart;
    changes = summarizeChanges(generation, store.globalEpoch, outcome.changes, full);
    if (options.debug) {
      const problems = checkMetadata(store);
      if (problems.length > 0) log.error({ problems: problems.slice(0, 20), command: cmd.kind }, 'metadata inconsistent after write');
    }
  }
  const generation = publisher.generation;
  const reply: CommandReply = outcome.ok ? { ok: true, generation, body: commandBody(cmd.kind, outcome.value) } : { ok: false, generation, error: outcome.error };
  return { reply, changes, persistMs, publishMs, applyMs };
}

port.on('message', (message: OwnerInbound) => {
  if (message.type === 'command') {
    const { reply, changes, persistMs, publishMs, applyMs } = execute(message.cmd);
    post({ type: 'reply', id: message.id, reply, changes, timings: { applyMs, persistMs, publishMs } });
  } else if (message.type === 'close') {
    stopTimers();
    if (options.autoUpdateMetaFile || options.updateMetaFileIntervalSec > 0) {
      try {
        persist(store);
      } catch (err) {
        log.error({ err: String(err) }, 'final metadata file write failed');
      }
    }
    post({ type: 'closed' });
    port.close();
  }
});

// Expired failure reports are forgotten here, on a timer, so reads never write.
const timers: NodeJS.Timeout[] = [];
timers.push(
  setInterval(() => {
    const now = nowSeconds();
    let expired = false;
    for (const reports of store.failures.values()) {
      for (const at of reports.values()) if (now - at >= options.settings.failureTtl) expired = true;
    }
    if (!expired) return;
    const { changes } = execute({ kind: 'pruneFailures', ttlSeconds: options.settings.failureTtl });
    if (changes) post({ type: 'changed', changes });
  }, 1000),
);
if (options.updateMetaFileIntervalSec > 0) {
  timers.push(
    setInterval(() => {
      try {
        persist(store);
      } catch (err) {
        const message = err instanceof Error ? err.message : String(err);
        post({ type: 'event', event: { kind: 'persistFailure', message } });
        log.error({ err: message }, 'periodic metadata file write failed');
      }
    }, options.updateMetaFileIntervalSec * 1000),
  );
}
if (options.syncMetaIntervalSec > 0 && options.replicaAddresses.length > 0) {
  let syncing = false;
  timers.push(
    setInterval(() => {
      if (syncing) return; // a slow replica must not stack up copies of the document
      syncing = true;
      const body = JSON.stringify(storeToDocument(store));
      replicateOnce([...options.replicaAddresses], body, { token: options.apiToken || undefined })
        .then((results) => {
          for (const r of results) {
            if (r.ok) continue;
            post({ type: 'event', event: { kind: 'replicationFailure', address: r.address, message: r.error ?? 'failed' } });
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

post({ type: 'ready', generation: publisher.generation, globalEpoch: store.globalEpoch });
