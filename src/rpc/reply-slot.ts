/**
 * A one-place mailbox in shared memory for the answer to the write the
 * front end is waiting for. The front end posts a write, then sleeps in
 * Atomics.wait for a bounded time: that hands its core to the owner thread
 * at once, where a busy machine would otherwise leave the owner queued for
 * a scheduler slice, and the answer comes back without a second wake-up of
 * the event loop. When the wait times out (a slow write, a busy owner), the
 * answer comes through the message port as before.
 *
 * States: the front end moves IDLE -> WAITING (for one command id), then
 * WAITING -> ABANDONED on a timeout; the owner moves WAITING -> REPLIED
 * after writing the answer's bytes. Whoever loses the compare-exchange
 * knows: an owner that finds the slot abandoned posts the answer instead.
 */
import { deserialize, serialize } from 'node:v8';

const STATE = 0;
const ID = 1;
const LENGTH = 2;
const HEADER_BYTES = 16;
const IDLE = 0;
const WAITING = 1;
const REPLIED = 2;
const ABANDONED = 3;

/** Answers larger than this go through the message port. */
export const REPLY_SLOT_BYTES = 64 * 1024;

export function allocateReplySlot(): SharedArrayBuffer {
  return new SharedArrayBuffer(HEADER_BYTES + REPLY_SLOT_BYTES);
}

/** The front end's side. */
export class ReplySlotWaiter {
  private readonly control: Int32Array;
  private readonly bytes: Uint8Array;

  constructor(slot: SharedArrayBuffer) {
    this.control = new Int32Array(slot, 0, HEADER_BYTES / 4);
    this.bytes = new Uint8Array(slot, HEADER_BYTES);
  }

  /** Marks command `id` as awaited; call before posting it. */
  expect(id: number): void {
    Atomics.store(this.control, ID, id);
    Atomics.store(this.control, STATE, WAITING);
  }

  /** Sleeps up to `timeoutMs` for the awaited answer; null when it will come through the port instead. */
  wait(timeoutMs: number): unknown {
    Atomics.wait(this.control, STATE, WAITING, timeoutMs);
    const state = Atomics.compareExchange(this.control, STATE, WAITING, ABANDONED);
    if (state !== REPLIED) return null;
    const length = Atomics.load(this.control, LENGTH);
    const message: unknown = deserialize(this.bytes.subarray(0, length));
    Atomics.store(this.control, STATE, IDLE);
    return message;
  }
}

/** The owner's side. */
export class ReplySlotWriter {
  private readonly control: Int32Array;
  private readonly bytes: Uint8Array;

  constructor(slot: SharedArrayBuffer) {
    this.control = new Int32Array(slot, 0, HEADER_BYTES / 4);
    this.bytes = new Uint8Array(slot, HEADER_BYTES);
  }

  /** Hands the answer to command `id` over if the front end is still waiting for it; false otherwise. */
  offer(id: number, message: unknown): boolean {
    if (Atomics.load(this.control, ID) !== id || Atomics.load(this.control, STATE) !== WAITING) return false;
    const encoded = serialize(message);
    if (encoded.byteLength > this.bytes.byteLength) return false;
    this.bytes.set(encoded);
    Atomics.store(this.control, LENGTH, encoded.byteLength);
    if (Atomics.compareExchange(this.control, STATE, WAITING, REPLIED) !== WAITING) return false;
    Atomics.notify(this.control, STATE);
    return true;
  }
}
