/**
 * The front end's side of the owner thread: starts it (loading the
 * metadata file or etcd), sends it writes in arrival order and matches
 * their replies, and passes on what it publishes. Refusals of its own
 * (stopping, too many writes waiting) are thrown, as the reader pool's are.
 */
import { MessageChannel, receiveMessageOnPort, Worker } from 'node:worker_threads';
import type { MessagePort } from 'node:worker_threads';
import type { Command } from '../domain/commands.js';
import { BrokerError } from '../domain/errors.js';
import type { CommandReply, OwnerEvent, OwnerOptions, OwnerOutbound, Timings } from '../rpc/messages.js';
import type { ChangeSummary } from '../rpc/messages.js';
import { allocateReplySlot, ReplySlotWaiter } from '../rpc/reply-slot.js';

export interface OwnerClientEvents {
  /** A generation was published: before the write's reply, if it came with one. */
  onChanges(changes: ChangeSummary): void;
  onEvent(event: OwnerEvent): void;
  /** Per write: the owner's own timings, and the round trip seen from here. */
  onTimings(timings: Timings, roundTripMs: number): void;
  /** The owner thread died while the broker was running: no write can be applied any more. */
  onLost(error: Error): void;
}

export interface OwnerLimits {
  /** Writes waiting for the owner before new ones are refused with SERVICE_BUSY. */
  readonly maxPending: number;
  /** How long to sleep for a write's answer in the reply slot; 0 never waits. */
  readonly replyWaitMs: number;
}

interface Pending {
  readonly resolve: (reply: CommandReply) => void;
  readonly reject: (err: Error) => void;
  readonly sentAt: number;
}

export class OwnerClient {
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private closing: Promise<void> | null = null;
  private exit: Error | null = null;

  private readonly replySlot: ReplySlotWaiter;
  private early: OwnerOutbound[] = [];

  private constructor(
    private readonly worker: Worker,
    private readonly outbound: MessagePort,
    replySlot: SharedArrayBuffer,
    private readonly limits: OwnerLimits,
    private readonly events: OwnerClientEvents,
  ) {
    this.replySlot = new ReplySlotWaiter(replySlot);
    outbound.on('message', (m: OwnerOutbound) => this.onMessage(m));
    worker.on('exit', (code) => {
      this.exit = new Error(`owner thread exited with code ${code}`);
      for (const p of this.pending.values()) p.reject(this.exit);
      this.pending.clear();
      if (!this.closing) events.onLost(this.exit);
    });
    worker.on('error', (err) => {
      this.exit = err;
    });
  }

  /** Starts the owner thread and waits until it is ready (or failed to start). */
  static async start(
    options: Omit<OwnerOptions, 'outbound' | 'replySlot'>,
    limits: OwnerLimits,
    events: OwnerClientEvents,
  ): Promise<{ client: OwnerClient; generation: number; globalEpoch: number }> {
    const channel = new MessageChannel();
    // The worker keeps the process alive while it runs; this port must not on its own.
    channel.port1.unref();
    const replySlot = allocateReplySlot();
    const workerData: OwnerOptions = { ...options, outbound: channel.port2, replySlot };
    const worker = new Worker(new URL('../../workers/owner.js', import.meta.url), {
      workerData,
      transferList: [channel.port2],
    });
    const port = channel.port1;
    // What the owner says while starting (its role in etcd mode, say) is kept for replay().
    const early: OwnerOutbound[] = [];
    const ready = await new Promise<{ generation: number; globalEpoch: number }>((resolve, reject) => {
      const onMessage = (m: OwnerOutbound) => {
        if (m.type === 'ready') done(null, { generation: m.generation, globalEpoch: m.globalEpoch });
        else if (m.type === 'fatal') done(new Error(m.message));
        else early.push(m);
      };
      const onExit = (code: number) => done(new Error(`owner thread exited with code ${code} during start`));
      const onError = (err: Error) => done(err);
      const done = (err: Error | null, value?: { generation: number; globalEpoch: number }) => {
        port.off('message', onMessage);
        worker.off('exit', onExit);
        worker.off('error', onError);
        if (err) reject(err);
        else resolve(value!);
      };
      port.on('message', onMessage);
      worker.on('exit', onExit);
      worker.on('error', onError);
    });
    const client = new OwnerClient(worker, port, replySlot, limits, events);
    client.early = early;
    return { client, ...ready };
  }

  /** Passes on what the owner said before it was ready; call once the receiver is set up. */
  replay(): void {
    const early = this.early;
    this.early = [];
    for (const m of early) this.onMessage(m);
  }

  command(cmd: Command): Promise<CommandReply> {
    const sent = this.send((id) => {
      // Waiting makes sense only when nothing is queued ahead at the owner.
      const wait = this.limits.replyWaitMs > 0 && this.pending.size === 1;
      if (wait) this.replySlot.expect(id);
      this.worker.postMessage({ type: 'command', id, cmd });
      if (wait) this.awaitReply();
    });
    return sent;
  }

  /**
   * Sleeps briefly for the answer in the reply slot. Messages the owner
   * posted before it are handled first, so changes are still noted in the
   * order the owner published them.
   */
  private awaitReply(): void {
    const answer = this.replySlot.wait(this.limits.replyWaitMs) as OwnerOutbound | null;
    if (answer === null) return;
    for (let m = receiveMessageOnPort(this.outbound); m !== undefined; m = receiveMessageOnPort(this.outbound)) {
      this.onMessage(m.message as OwnerOutbound);
    }
    this.onMessage(answer);
  }

  /** Hands a restore's body to the owner, which parses and checks it in a worker: this thread only moves the bytes. */
  restore(body: Uint8Array): Promise<CommandReply> {
    // Transferred, not copied: a body that shares its buffer is copied out first.
    const whole =
      body.byteOffset === 0 && body.byteLength === body.buffer.byteLength && body.buffer instanceof ArrayBuffer;
    const bytes = whole ? body.buffer : body.slice().buffer;
    return this.send((id) => this.worker.postMessage({ type: 'restore', id, body: bytes }, [bytes]));
  }

  private send(post: (id: number) => void): Promise<CommandReply> {
    if (this.closing || this.exit)
      return Promise.reject(new BrokerError('SERVICE_BUSY', 'the broker is shutting down'));
    if (this.pending.size >= this.limits.maxPending)
      return Promise.reject(new BrokerError('SERVICE_BUSY', 'too many writes are waiting'));
    const id = this.nextId++;
    return new Promise<CommandReply>((resolve, reject) => {
      this.pending.set(id, { resolve, reject, sentAt: performance.now() });
      post(id);
    });
  }

  /** Stops taking writes, waits for those in flight, lets the owner flush, and stops it. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      while (this.pending.size > 0) await new Promise((r) => setTimeout(r, 5));
      if (this.exit) return;
      await new Promise<void>((resolve) => {
        this.outbound.on('message', (m: OwnerOutbound) => m.type === 'closed' && resolve());
        this.worker.once('exit', () => resolve());
        this.worker.postMessage({ type: 'close' });
      });
      await this.worker.terminate();
      this.outbound.close();
    })();
    return this.closing;
  }

  /** For tests: the owner thread itself. */
  get thread(): Worker {
    return this.worker;
  }

  private onMessage(m: OwnerOutbound): void {
    switch (m.type) {
      case 'reply': {
        if (m.changes) this.events.onChanges(m.changes);
        const p = this.pending.get(m.id);
        if (!p) return;
        this.pending.delete(m.id);
        this.events.onTimings(m.timings, performance.now() - p.sentAt);
        p.resolve(m.reply);
        return;
      }
      case 'changed':
        this.events.onChanges(m.changes);
        return;
      case 'event':
        this.events.onEvent(m.event);
        return;
      default:
        return;
    }
  }
}
