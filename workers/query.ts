/**
 * A reader thread of the piscina pool. Each task first catches up with the
 * newest published snapshot, then answers from its own replica. Reads never
 * write to shared state.
 */
import { BroadcastChannel } from 'node:worker_threads';
import { workerData } from 'piscina';
import type { QueryRequest, ReadSettings, ReaderReply } from '../src/rpc/messages.js';
import { answerQuery, isEpochTemplate, queryDeps } from '../src/service/queries.js';
import type { SnapshotBuffers, StagedSnapshot } from '../src/snapshot/layout.js';
import { SnapshotReader } from '../src/snapshot/reader.js';

interface ReaderData {
  readonly buffers: SnapshotBuffers;
  readonly settings: ReadSettings;
  /** Where the owner announces a staged whole-store snapshot. */
  readonly stagingChannel: string;
}

const data = workerData as ReaderData;
const reader = new SnapshotReader(data.buffers);

// Between tasks: a restore's new store is decoded here before it is
// published, so that no read waits for it afterwards.
const staging = new BroadcastChannel(data.stagingChannel);
staging.onmessage = (event) => reader.preload((event as { data: StagedSnapshot }).data);
staging.unref();

export default function answer(q: QueryRequest): ReaderReply {
  const { store, generation } = reader.refresh();
  return {
    generation,
    body: answerQuery(store, q, data.settings),
    deps: queryDeps(store, q),
    epochTemplate: isEpochTemplate(store, q),
  };
}
