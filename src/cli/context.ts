/** What every command gets: the client, the output format, and where to write. */
import type { BrokerClient } from './client.js';
import { colorsFor } from './render.js';
import type { Colors } from './render.js';

export const FORMATS = ['table', 'json', 'wide'] as const;
export type Format = (typeof FORMATS)[number];

export interface Streams {
  readonly stdout: NodeJS.WritableStream & { readonly isTTY?: boolean };
  readonly stderr: NodeJS.WritableStream & { readonly isTTY?: boolean };
  readonly stdin: NodeJS.ReadableStream & { readonly isTTY?: boolean };
  readonly env: NodeJS.ProcessEnv;
}

export class Context {
  /** Colours for stdout and for stderr, each judged on its own stream. */
  readonly colors: Colors;
  readonly errColors: Colors;

  constructor(
    readonly client: BrokerClient,
    readonly format: Format,
    readonly streams: Streams,
  ) {
    this.colors = colorsFor(streams.stdout, streams.env);
    this.errColors = colorsFor(streams.stderr, streams.env);
  }

  get json(): boolean {
    return this.format === 'json';
  }

  get wide(): boolean {
    return this.format === 'wide';
  }

  /** A block of text on stdout, with a final newline. */
  print(text: string): void {
    this.streams.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
  }

  /** An API body exactly as the broker sent it (nothing for an empty body). */
  printBody(body: string): void {
    if (body !== '') this.print(body);
  }

  /** A value as one line of JSON. */
  printJson(value: unknown): void {
    this.print(JSON.stringify(value));
  }

  /** A message for the operator on stderr, out of the way of what scripts read. */
  note(text: string): void {
    this.streams.stderr.write(text.endsWith('\n') ? text : `${text}\n`);
  }
}
