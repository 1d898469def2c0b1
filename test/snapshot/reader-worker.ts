/** A reader thread for the torn-read stress test: polls and reports what it saw. */
import { parentPort, workerData } from 'node:worker_threads';
import { storeToDocument } from '../../src/domain/store.js';
import type { SnapshotBuffers } from '../../src/snapshot/layout.js';
import { SnapshotReader } from '../../src/snapshot/reader.js';

const { buffers, until } = workerData as { buffers: SnapshotBuffers; until: number };
const reader = new SnapshotReader(buffers);
const seen: { generation: number; document: string }[] = [];
let last = -1;
while (Date.now() < until) {
  const { store, generation } = reader.refresh();
  if (generation !== last) {
    seen.push({ generation, document: JSON.stringify(storeToDocument(store)) });
    last = generation;
  }
}
parentPort!.postMessage({ seen, fullLoads: reader.fullLoads });
