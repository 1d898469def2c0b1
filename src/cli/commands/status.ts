/**
 * `metabroker status [--watch]`: the fleet at a glance. Listings are paged
 * and cluster metas read in parallel, as coordinators read them, so that a
 * fleet of 10,000 proxies answers in well under two seconds; the global
 * epoch and the hosts come from GET /metadata, the only read that has them.
 *
 * `-o json` prints one StatusReport object (documented in the README); with
 * --watch, one per refresh and line, with `refresh` and `changes` added.
 */
import type { ClusterView } from '../../domain/types.js';
import type { Context } from '../context.js';
import { CliError } from '../errors.js';
import {
  hostCount,
  masters,
  migrationsOf,
  proxiesInClusters,
  readAddressList,
  readClusterViews,
  readMetadata,
  readProxyAddresses,
  slotsPerMaster,
} from '../fleet.js';
import { keyValues, listOf, plural, slotSummary, table } from '../render.js';

export interface ClusterLine {
  readonly name: string;
  readonly epoch: number;
  readonly nodes: number;
  readonly masters: number;
  readonly migrations: number;
  readonly slots_per_master: number[];
  readonly compression_strategy: string;
}

export interface StatusReport {
  /** The broker URL that answered. */
  readonly broker: string;
  readonly global_epoch: number;
  readonly hosts: number;
  readonly proxies: {
    readonly total: number;
    /** Neither serving a cluster nor failed. */
    readonly free: number;
    readonly in_clusters: number;
    readonly failed: number;
    /** With enough live failure reports to be listed by GET /failures. */
    readonly reported: number;
  };
  readonly clusters: { readonly count: number; readonly nodes: number; readonly migrations: number };
  /** Hosts whose loss the free proxies could not absorb (POST /resources/failures/check). */
  readonly hosts_cannot_fail: string[];
  readonly cluster_list: ClusterLine[];
}

function clusterLine(view: ClusterView): ClusterLine {
  return {
    name: view.name,
    epoch: view.epoch,
    nodes: view.nodes.length,
    masters: masters(view).length,
    migrations: migrationsOf(view).length,
    slots_per_master: slotsPerMaster(view),
    compression_strategy: view.config.compression_strategy,
  };
}

export async function gatherStatus(ctx: Context): Promise<StatusReport> {
  const client = ctx.client;
  // Independent reads, all at once; each listing pages and bounds its own parallelism.
  const [metadata, addresses, views, failed, reported, check] = await Promise.all([
    readMetadata(client),
    readProxyAddresses(client),
    readClusterViews(client),
    readAddressList(client, '/proxies/failed/addresses'),
    readAddressList(client, '/failures'),
    client.callJson<{ hosts_cannot_fail: string[] }>('POST', '/resources/failures/check').then((a) => a.value),
  ]);
  const serving = proxiesInClusters(views);
  const failedSet = new Set(failed);
  const lines = views.map(clusterLine);
  return {
    broker: client.url,
    global_epoch: metadata.global_epoch,
    hosts: hostCount(metadata),
    proxies: {
      total: addresses.length,
      free: addresses.filter((a) => !serving.has(a) && !failedSet.has(a)).length,
      in_clusters: serving.size,
      failed: failed.length,
      reported: reported.length,
    },
    clusters: {
      count: views.length,
      nodes: lines.reduce((n, l) => n + l.nodes, 0),
      migrations: lines.reduce((n, l) => n + l.migrations, 0),
    },
    hosts_cannot_fail: check.hosts_cannot_fail,
    cluster_list: lines,
  };
}

export function renderStatus(ctx: Context, report: StatusReport): string {
  const c = ctx.colors;
  const p = report.proxies;
  const atRisk =
    report.hosts_cannot_fail.length === 0
      ? c.green('none: the free proxies could absorb the loss of any one host')
      : c.red(
          `${listOf(report.hosts_cannot_fail)}: the free proxies could not absorb the loss of ` +
            (report.hosts_cannot_fail.length === 1 ? 'this host' : 'any one of these hosts'),
        );
  const proxyWords = [
    `${p.total} total`,
    c.green(`${p.free} free`),
    `${p.in_clusters} in clusters`,
    p.failed > 0 ? c.red(`${p.failed} failed`) : `${p.failed} failed`,
    p.reported > 0 ? c.yellow(`${p.reported} reported`) : `${p.reported} reported`,
  ];
  const summary = keyValues(c, [
    ['broker', report.broker],
    ['global epoch', String(report.global_epoch)],
    ['hosts', String(report.hosts)],
    ['proxies', proxyWords.join(', ')],
    [
      'clusters',
      `${report.clusters.count} (${plural(report.clusters.nodes, 'node')}, ` +
        `${plural(report.clusters.migrations, 'migration')} in flight)`,
    ],
    ['hosts at risk', atRisk],
  ]);
  if (report.cluster_list.length === 0) return `${summary}\n\nno clusters`;
  return `${summary}\n\n${clusterTable(ctx, report.cluster_list)}`;
}

/** One line per cluster; `status` and `clusters ls` share it. */
export function clusterTable(ctx: Context, lines: readonly ClusterLine[]): string {
  const c = ctx.colors;
  const head = ['CLUSTER', 'EPOCH', 'NODES', 'MIGRATIONS', 'SLOTS PER MASTER'];
  const align = ['left', 'right', 'right', 'right', 'left'] as const;
  const rows = lines.map((l) => [
    l.name,
    l.epoch,
    l.nodes,
    l.migrations > 0 ? c.yellow(String(l.migrations)) : '0',
    slotSummary(c, l.slots_per_master),
  ]);
  if (!ctx.wide) return table(c, head, rows, align);
  return table(
    c,
    [...head, 'MASTERS', 'COMPRESSION'],
    rows.map((row, i) => [...row, lines[i]!.masters, lines[i]!.compression_strategy]),
    [...align, 'right', 'left'],
  );
}

// ---- Watching ----

/** What changed between two refreshes, as sentences; empty when nothing did. */
export function statusChanges(before: StatusReport, after: StatusReport): string[] {
  const changes: string[] = [];
  const number = (label: string, a: number, b: number) => {
    if (a !== b) changes.push(`${label}: ${a} -> ${b}`);
  };
  if (before.broker !== after.broker) changes.push(`broker: ${before.broker} -> ${after.broker}`);
  number('global epoch', before.global_epoch, after.global_epoch);
  number('hosts', before.hosts, after.hosts);
  for (const key of ['total', 'free', 'in_clusters', 'failed', 'reported'] as const) {
    number(`proxies ${key.replace('_', ' ')}`, before.proxies[key], after.proxies[key]);
  }
  number('clusters', before.clusters.count, after.clusters.count);
  number('nodes in clusters', before.clusters.nodes, after.clusters.nodes);
  number('migrations in flight', before.clusters.migrations, after.clusters.migrations);
  const riskBefore = new Set(before.hosts_cannot_fail);
  const riskAfter = new Set(after.hosts_cannot_fail);
  for (const host of after.hosts_cannot_fail) if (!riskBefore.has(host)) changes.push(`host ${host} is now at risk`);
  for (const host of before.hosts_cannot_fail)
    if (!riskAfter.has(host)) changes.push(`host ${host} is no longer at risk`);
  const old = new Map(before.cluster_list.map((l) => [l.name, l]));
  const now = new Map(after.cluster_list.map((l) => [l.name, l]));
  for (const [name, line] of now) {
    const prev = old.get(name);
    if (!prev) {
      changes.push(`cluster ${name} added (${plural(line.nodes, 'node')})`);
      continue;
    }
    number(`cluster ${name} epoch`, prev.epoch, line.epoch);
    number(`cluster ${name} nodes`, prev.nodes, line.nodes);
    number(`cluster ${name} migrations`, prev.migrations, line.migrations);
    if (prev.slots_per_master.join() !== line.slots_per_master.join()) changes.push(`cluster ${name} slots moved`);
  }
  for (const name of old.keys()) if (!now.has(name)) changes.push(`cluster ${name} removed`);
  return changes;
}

export interface WatchOptions {
  readonly intervalSeconds: number;
  /** Stop after this many refreshes; forever when undefined. */
  readonly count: number | undefined;
}

/**
 * Refreshes every interval, or at once when a line arrives on stdin (Enter),
 * until `count` refreshes or Ctrl-C. A failed refresh is shown and the
 * watch goes on (a broker restart should not end it); the exit status is
 * that of the last refresh.
 */
export async function watchStatus(ctx: Context, options: WatchOptions): Promise<number> {
  const tty = ctx.streams.stdout.isTTY === true && !ctx.json;
  let previous: StatusReport | null = null;
  let lastExit = 0;
  let stopped = false;
  let wake: (() => void) | null = null;
  const onLine = () => wake?.();
  const onInterrupt = () => {
    stopped = true;
    wake?.();
  };
  const stdin = ctx.streams.stdin;
  stdin.on('data', onLine);
  process.once('SIGINT', onInterrupt);
  try {
    for (let refresh = 1; !stopped && (options.count === undefined || refresh <= options.count); refresh++) {
      if (refresh > 1) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(() => resolve(), options.intervalSeconds * 1000);
          wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        wake = null;
        if (stopped) break;
      }
      let report: StatusReport;
      try {
        report = await gatherStatus(ctx);
        lastExit = 0;
      } catch (err) {
        if (!(err instanceof CliError)) throw err;
        lastExit = err.exitCode;
        if (ctx.json) ctx.printJson({ refresh, error: err.message });
        else ctx.print(`${header(ctx, refresh, options, tty)}\n${err.describe().join('\n')}\n`);
        continue;
      }
      const changes = previous === null ? [] : statusChanges(previous, report);
      if (ctx.json) ctx.printJson({ refresh, ...report, changes });
      else
        ctx.print(
          `${header(ctx, refresh, options, tty)}\n${renderStatus(ctx, report)}\n${changeLines(ctx, previous, changes)}`,
        );
      previous = report;
    }
  } finally {
    stdin.removeListener('data', onLine);
    process.removeListener('SIGINT', onInterrupt);
    // Reading stdin for Enter keeps it open; let the process end.
    stdin.pause();
    (stdin as { destroy?: () => void }).destroy?.();
  }
  return lastExit;
}

function header(ctx: Context, refresh: number, options: WatchOptions, tty: boolean): string {
  const every = `every ${options.intervalSeconds}s`;
  if (!tty)
    return ctx.colors.bold(
      `--- refresh ${refresh}${options.count === undefined ? '' : ` of ${options.count}`} ` +
        `(${every}; Enter refreshes now) ---`,
    );
  // On a terminal each refresh replaces the previous screen.
  const time = new Date().toISOString().slice(11, 19);
  const title = `metabroker status, ${every}, refresh ${refresh} at ${time} UTC (Enter refreshes now, Ctrl-C stops)`;
  return `\x1b[H\x1b[2J${ctx.colors.bold(title)}`;
}

function changeLines(ctx: Context, previous: StatusReport | null, changes: readonly string[]): string {
  if (previous === null) return '';
  if (changes.length === 0) return `\n${ctx.colors.dim('no change since the previous refresh')}\n`;
  const list = changes.map((line) => `  ${ctx.colors.yellow(line)}`).join('\n');
  return `\n${ctx.colors.bold('changed since the previous refresh:')}\n${list}\n`;
}
