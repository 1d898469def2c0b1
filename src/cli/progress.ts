/**
 * A progress bar for large transfers (backup, restore), drawn on stderr and
 * only on a terminal: piped or logged output stays free of control codes.
 */
import cliProgress from 'cli-progress';
import type { Context } from './context.js';

/** Transfers smaller than this finish before a bar would be worth reading. */
export const PROGRESS_THRESHOLD_BYTES = 1024 * 1024;

export interface Progress {
  /** Called with the bytes done and the total (0 when not yet known). */
  update(done: number, total: number): void;
  stop(): void;
}

const NO_PROGRESS: Progress = { update: () => undefined, stop: () => undefined };

export function transferProgress(ctx: Context, label: string): Progress {
  const stream = ctx.streams.stderr;
  if (stream.isTTY !== true) return NO_PROGRESS;
  let bar: cliProgress.SingleBar | null = null;
  const kib = (bytes: number) => `${Math.ceil(bytes / 1024)} KiB`;
  return {
    update(done, total) {
      if (bar === null) {
        if (total < PROGRESS_THRESHOLD_BYTES) return;
        bar = new cliProgress.SingleBar(
          {
            stream,
            format: `${label} [{bar}] {percentage}% | {done} of {size}`,
            hideCursor: true,
            clearOnComplete: false,
          },
          cliProgress.Presets.shades_classic,
        );
        bar.start(total, 0, { done: kib(0), size: kib(total) });
      }
      bar.update(done, { done: kib(done), size: kib(total) });
    },
    stop() {
      bar?.stop();
      bar = null;
    },
  };
}
