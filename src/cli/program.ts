/**
 * The command tree (commander): global options, every command and its
 * arguments. Actions get a Context built from the global options; the
 * completion scripts are generated from this same tree.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, InvalidArgumentError, Option } from 'commander';
import { MAX_EPOCH } from '../domain/constants.js';
import { BrokerClient, parseBrokerUrls } from './client.js';
import { Context, FORMATS } from './context.js';
import { EXIT } from './errors.js';
import type { Format, Streams } from './context.js';
import * as clusters from './commands/clusters.js';
import { completionScript, SHELLS } from './commands/completion.js';
import type { Shell } from './commands/completion.js';
import { bumpEpoch, recoverEpoch, showEpoch } from './commands/epoch.js';
import { failover, listFailures } from './commands/failures.js';
import { backup, restore } from './commands/metadata.js';
import { listMigrations } from './commands/migrations.js';
import * as proxies from './commands/proxies.js';
import { serve } from './commands/serve.js';
import { gatherStatus, renderStatus, watchStatus } from './commands/status.js';

export const DEFAULT_BROKER = 'http://127.0.0.1:7799';

interface GlobalOptions {
  readonly broker: string;
  readonly token?: string;
  readonly output: Format;
  readonly timeout: number;
}

/** The version in package.json, found upward from this file (dist/ or any other output folder). */
function packageVersion(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 8; i++) {
    const file = join(dir, 'package.json');
    if (existsSync(file)) return (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version;
    dir = dirname(dir);
  }
  return 'unknown';
}

function wholeNumber(max: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^[0-9]+$/.test(value) || !Number.isSafeInteger(n) || n > max)
      throw new InvalidArgumentError(`must be a whole number up to ${max}.`);
    return n;
  };
}

const nodeCount = wholeNumber(1_000_000);

function positiveSeconds(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('must be a number of seconds above 0.');
  return n;
}

/** An action that talks to the broker; a number it returns is the exit status. */
export type BrokerAction = (ctx: Context) => Promise<number | void>;

export interface ProgramHooks {
  readonly streams: Streams;
  /** Receives the exit status an action asks for (watch reports its last refresh's). */
  readonly setExitCode: (code: number) => void;
}

export function buildProgram(hooks: ProgramHooks): Command {
  const program = new Command('metabroker');

  /** Runs an action with a client built from the global options; its connections close when it ends. */
  const run = async (command: Command, action: BrokerAction): Promise<void> => {
    const options = command.optsWithGlobals<GlobalOptions>();
    const client = new BrokerClient({
      urls: parseBrokerUrls(options.broker),
      token: options.token,
      timeoutMs: options.timeout * 1000,
    });
    try {
      const code = await action(new Context(client, options.output, hooks.streams));
      if (typeof code === 'number') hooks.setExitCode(code);
    } finally {
      client.close();
    }
  };

  program
    .description('Operate a metabroker (undermoon mem_broker v2 API): proxies, clusters, failover, epochs, backups.')
    .version(packageVersion())
    .addOption(
      new Option('--broker <urls>', 'broker URL; several, comma-separated, are tried in order')
        .env('METABROKER_URL')
        .default(DEFAULT_BROKER),
    )
    .addOption(
      new Option('--token <token>', "the broker's api_token, sent as Authorization: Bearer").env('UNDERMOON_API_TOKEN'),
    )
    .addOption(new Option('-o, --output <format>', 'output format').choices(FORMATS).default('table'))
    .addOption(new Option('--timeout <seconds>', 'time allowed to each request').argParser(positiveSeconds).default(10))
    .showHelpAfterError('(add --help for usage)')
    // Set before any subcommand is added: subcommands copy these settings when created.
    .exitOverride()
    .configureOutput({
      writeOut: (s) => hooks.streams.stdout.write(s),
      writeErr: (s) => hooks.streams.stderr.write(s),
    });

  program
    .command('serve')
    .description('run the broker itself (listens on 127.0.0.1:7799 by default)')
    .argument('[config]', 'TOML configuration file; UNDERMOON_* environment variables override it')
    .action((config: string | undefined) => serve(config));

  program
    .command('status')
    .description('epoch, hosts, proxies, clusters, migrations, hosts at risk; one line per cluster')
    .option('-w, --watch', 'refresh until interrupted, showing what changed')
    .addOption(
      new Option('-i, --interval <seconds>', 'seconds between refreshes').argParser(positiveSeconds).default(1),
    )
    .addOption(
      new Option('-n, --count <refreshes>', 'with --watch: stop after this many refreshes').argParser(
        wholeNumber(Number.MAX_SAFE_INTEGER),
      ),
    )
    .action((options: { watch?: boolean; interval: number; count?: number }, cmd: Command) =>
      run(cmd, async (ctx) => {
        if (options.watch) return watchStatus(ctx, { intervalSeconds: options.interval, count: options.count });
        const report = await gatherStatus(ctx);
        if (ctx.json) ctx.printJson(report);
        else ctx.print(renderStatus(ctx, report));
        return EXIT.ok;
      }),
    );

  const proxiesCommand = program.command('proxies').description('server proxies: list, inspect, register, remove');
  proxiesCommand
    .command('ls')
    .description('every proxy with its host, cluster and state')
    .action((_o: unknown, cmd: Command) => run(cmd, (ctx) => proxies.listProxies(ctx)));
  proxiesCommand
    .command('show')
    .description("a proxy's view: epoch, nodes, roles, slots, peers")
    .argument('<address>', 'proxy address, host:port')
    .action((address: string, _o: unknown, cmd: Command) => run(cmd, (ctx) => proxies.showProxy(ctx, address)));
  proxiesCommand
    .command('add')
    .description('register a free proxy and its two Redis nodes')
    .argument('<address>', 'proxy address, host:port')
    .argument('<node1>', 'first Redis node, host:port')
    .argument('<node2>', 'second Redis node, host:port')
    .option(
      '--host <host>',
      "the machine it runs on (default: the address's host); a chunk's proxies go on different hosts",
    )
    .action((address: string, node1: string, node2: string, options: { host?: string }, cmd: Command) =>
      run(cmd, (ctx) => proxies.addProxy(ctx, address, [node1, node2], options.host)),
    );
  proxiesCommand
    .command('rm')
    .description('remove a proxy that serves no cluster')
    .argument('<address>', 'proxy address')
    .action((address: string, _o: unknown, cmd: Command) => run(cmd, (ctx) => proxies.removeProxy(ctx, address)));

  const clustersCommand = program
    .command('clusters')
    .description('clusters: list, inspect, create, grow, shrink, configure');
  clustersCommand
    .command('ls')
    .description('every cluster: epoch, nodes, migrations, slots per master')
    .action((_o: unknown, cmd: Command) => run(cmd, (ctx) => clusters.listClusters(ctx)));
  const nameArg = ['<name>', 'cluster name'] as const;
  const byName = (description: string, command: string, act: (ctx: Context, name: string) => Promise<void>) =>
    clustersCommand
      .command(command)
      .description(description)
      .argument(...nameArg)
      .action((name: string, _o: unknown, cmd: Command) => run(cmd, (ctx) => act(ctx, name)));
  const byNameAndCount = (
    description: string,
    command: string,
    count: string,
    act: (ctx: Context, name: string, n: number) => Promise<void>,
  ) =>
    clustersCommand
      .command(command)
      .description(description)
      .argument(...nameArg)
      .argument(count, 'number of nodes (a multiple of 4)', nodeCount)
      .action((name: string, n: number, _o: unknown, cmd: Command) => run(cmd, (ctx) => act(ctx, name, n)));
  byName('chunk by chunk: proxies, hosts, role, masters, slot ranges, migrations', 'show', clusters.showCluster);
  byNameAndCount('create a cluster from free proxies', 'create', '<nodes>', clusters.createCluster);
  byName('remove a cluster; its proxies become free', 'rm', clusters.removeCluster);
  byNameAndCount('add nodes (empty chunks) to a cluster', 'add-nodes', '<nodes>', clusters.addNodes);
  byNameAndCount('grow a cluster to this many nodes', 'scale-to', '<nodes>', clusters.scaleTo);
  byName('move slots onto the empty chunks (starts migrations)', 'expand', clusters.expand);
  byNameAndCount(
    'move every slot into the first chunks covering this many nodes (starts migrations)',
    'shrink',
    '<nodes>',
    clusters.shrink,
  );
  clustersCommand
    .command('config')
    .description("change a cluster's config, e.g. compression_strategy=allow_all migration_scan_count=20")
    .argument(...nameArg)
    .argument('<key=value...>', 'settings to change')
    .action((name: string, pairs: string[], _o: unknown, cmd: Command) =>
      run(cmd, (ctx) => clusters.changeConfig(ctx, name, pairs)),
    );
  byName('set every healthy chunk back to one master per proxy', 'balance', clusters.balance);
  byName('drop the chunks that hold no slots (after a shrink)', 'rm-free-nodes', clusters.removeFreeNodes);

  program
    .command('failures')
    .description('proxies reported failed by coordinators')
    .action((_o: unknown, cmd: Command) => run(cmd, (ctx) => listFailures(ctx)));
  program
    .command('failover')
    .description('fail a proxy over: its chunk peer takes over and a free proxy replaces it')
    .argument('<address>', 'proxy address')
    .action((address: string, _o: unknown, cmd: Command) => run(cmd, (ctx) => failover(ctx, address)));

  const migrationsCommand = program.command('migrations').description('slot migrations');
  migrationsCommand
    .command('ls')
    .description('every migration in flight: cluster, slots, source, destination, epoch')
    .action((_o: unknown, cmd: Command) => run(cmd, (ctx) => listMigrations(ctx)));

  const epochCommand = program.command('epoch').description('the global epoch');
  epochCommand
    .command('show')
    .description('print the global epoch')
    .action((_o: unknown, cmd: Command) => run(cmd, (ctx) => showEpoch(ctx)));
  epochCommand
    .command('bump')
    .description('set every epoch to N (above the current global epoch)')
    .argument('<epoch>', 'the new epoch', wholeNumber(MAX_EPOCH))
    .action((epoch: number, _o: unknown, cmd: Command) => run(cmd, (ctx) => bumpEpoch(ctx, epoch)));
  epochCommand
    .command('recover')
    .description('ask every proxy for its epoch and move past the largest')
    .action((_o: unknown, cmd: Command) => run(cmd, (ctx) => recoverEpoch(ctx)));

  const metadataCommand = program.command('metadata').description('the whole metadata document');
  metadataCommand
    .command('backup')
    .description('save GET /metadata to FILE (- for stdout)')
    .argument('<file>', 'where to write')
    .action((file: string, _o: unknown, cmd: Command) => run(cmd, (ctx) => backup(ctx, file)));
  metadataCommand
    .command('restore')
    .description("check FILE with the broker's own checks, show what changes, confirm, replace the metadata")
    .argument('<file>', 'a document written by backup (or by undermoon)')
    .option('-y, --yes', 'do not ask for confirmation (needed without a terminal)')
    .action((file: string, options: { yes?: boolean }, cmd: Command) =>
      run(cmd, (ctx) => restore(ctx, file, options.yes === true)),
    );

  program
    .command('completion')
    .description('print a shell completion script: source <(metabroker completion bash)')
    .addArgument(program.createArgument('<shell>', 'bash or zsh').choices(SHELLS))
    .action((shell: Shell) => {
      hooks.streams.stdout.write(completionScript(program, shell));
    });

  return program;
}
