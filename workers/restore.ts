/**
 * A restore's parse and checks, off the HTTP and owner threads: the owner
 * starts one of these per PUT /metadata with the body's bytes. It decodes
 * and parses them, checks the shape, the names and the consistency (each
 * linear in the document's size) and answers with the document as the
 * broker will hold it, or with the error to answer. Only the final swap
 * then runs on the owner thread.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { storeFromValidDocument } from '../src/domain/commands/restore.js';
import { BrokerError } from '../src/domain/errors.js';
import { parseJsonBody } from '../src/http/request.js';
import { encodeSlices, sharedLines } from '../src/snapshot/codec.js';
import { parseMetaDocument } from '../src/wire/schemas.js';
import type { RestoreOutcome, RestoreTask } from '../src/rpc/messages.js';

const task = workerData as RestoreTask;
let outcome: RestoreOutcome;
try {
  const document = parseMetaDocument(parseJsonBody(new Uint8Array(task.body)));
  // Text, not the object: JSON.parse keeps a key such as `__proto__` an own property.
  const { bytes, length } = sharedLines(encodeSlices(storeFromValidDocument(document, task.now)));
  outcome = { ok: true, snapshot: bytes, length };
} catch (err) {
  outcome =
    err instanceof BrokerError
      ? { ok: false, error: err.toWire() }
      : { ok: false, error: { code: 'INTERNAL_ERROR' }, bug: String(err) };
}
parentPort!.postMessage(outcome);
