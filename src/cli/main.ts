#!/usr/bin/env node
/**
 * The `metabroker` command. Exit status: 0 success, 1 refused by the broker
 * (or by its checks run here, or declined at a prompt), 2 usage error,
 * 3 no broker URL answered.
 */
import { CommanderError } from 'commander';
import type { Streams } from './context.js';
import { CliError, EXIT } from './errors.js';
import { buildProgram } from './program.js';
import { colorsFor } from './render.js';

/** Parses and runs one command line; resolves with the exit status. `serve` keeps running after it resolves. */
export async function runCli(args: readonly string[], streams: Streams): Promise<number> {
  let exitCode: number = EXIT.ok;
  const program = buildProgram({ streams, setExitCode: (code) => (exitCode = code) });
  try {
    await program.parseAsync([...args], { from: 'user' });
  } catch (err) {
    // --help and --version end with a CommanderError of status 0; every other one is a usage error.
    if (err instanceof CommanderError) return err.exitCode === 0 ? EXIT.ok : EXIT.usage;
    if (err instanceof CliError) {
      const red = colorsFor(streams.stderr, streams.env).red;
      const [first = '', ...rest] = err.describe();
      streams.stderr.write(`${red(first)}\n${rest.map((line) => `${line}\n`).join('')}`);
      return err.exitCode;
    }
    throw err;
  }
  return exitCode;
}

runCli(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  stdin: process.stdin,
  env: process.env,
}).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    const detail = err instanceof Error ? (err.stack ?? err.message) : String(err);
    process.stderr.write(`metabroker: unexpected error (a bug; please report it): ${detail}\n`);
    process.exitCode = 1;
  },
);
