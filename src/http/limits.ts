/**
 * What request bodies may hold at once: a cap on the bytes of all bodies
 * being received or handled, and a single slot for the metadata restore.
 * A body that would not fit is refused before it is read.
 */
import { codeReply } from './reply.js';
import type { Reply } from './reply.js';

/** One admitted body: its bytes count against the cap until `release`. */
export interface BodyTicket {
  /** Counts `bytes` more; false (and nothing counted) when they would pass the cap. */
  grow(bytes: number): boolean;
  release(): void;
}

export class BodyLimits {
  private inFlight = 0;
  private restoring = false;

  constructor(private readonly maxBytesInFlight: number) {}

  /** Bytes of bodies held now, for tests and metrics. */
  get bytesInFlight(): number {
    return this.inFlight;
  }

  /**
   * Admits a body of `announced` bytes (its Content-Length, 0 when not
   * given), or answers the reply to refuse it with at once.
   */
  admit(restore: boolean, announced: number): BodyTicket | Reply {
    if (restore && this.restoring) return codeReply('RESTORE_IN_PROGRESS');
    if (this.inFlight + announced > this.maxBytesInFlight) {
      return codeReply('SERVICE_BUSY', 'too many request body bytes in flight; retry');
    }
    if (restore) this.restoring = true;
    let held = 0;
    let released = false;
    const ticket: BodyTicket = {
      grow: (bytes) => {
        if (released) return false;
        if (this.inFlight + bytes > this.maxBytesInFlight) return false;
        this.inFlight += bytes;
        held += bytes;
        return true;
      },
      release: () => {
        if (released) return;
        released = true;
        this.inFlight -= held;
        if (restore) this.restoring = false;
      },
    };
    if (!ticket.grow(announced)) throw new Error('unreachable: the announced bytes fit');
    return ticket;
  }
}

export function isTicket(value: BodyTicket | Reply): value is BodyTicket {
  return 'release' in value;
}
