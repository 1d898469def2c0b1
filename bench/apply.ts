/**
 * In-process domain cost, no threads: creating a 16-node cluster on a fleet
 * of 1,000 hosts x 10 proxies (and, as a scaling check, 100 x 10), each
 * measured on a fresh draft that is rolled back so the fleet stays the same.
 */
import { performance } from 'node:perf_hooks';
import { applyCommand } from '../src/domain/commands.js';
import type { Command } from '../src/domain/commands.js';
import { Draft } from '../src/domain/store.js';
import { applyAddCluster } from '../src/domain/commands/clusters.js';
import type { MutableStore } from '../src/domain/types.js';
import { buildFleet } from './fixtures.js';

export interface ApplyFigure {
  readonly label: string;
  readonly medianMs: number;
  readonly p99Ms: number;
  readonly samples: number;
}

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

/** Median and p99 of creating one 16-node cluster, rolled back each time. */
export function measureCreateCluster(store: MutableStore, label: string, samples = 300): ApplyFigure {
  const times: number[] = [];
  for (let i = 0; i < samples + 20; i++) {
    const draft = new Draft(store);
    const started = performance.now();
    applyAddCluster(draft, { kind: 'addCluster', name: 'bench-new', nodeNumber: 16 });
    const elapsed = performance.now() - started;
    draft.rollback();
    if (i >= 20) times.push(elapsed);
  }
  times.sort((a, b) => a - b);
  return { label, medianMs: quantile(times, 0.5), p99Ms: quantile(times, 0.99), samples };
}

/** Median cost of one failure report (bump + record), the most frequent write. */
export function measureCommand(
  store: MutableStore,
  label: string,
  make: (i: number) => Command,
  samples = 2000,
): ApplyFigure {
  const times: number[] = [];
  const ctx = { now: Math.floor(Date.now() / 1000), migrationLimit: 1 };
  for (let i = 0; i < samples; i++) {
    const started = performance.now();
    applyCommand(store, make(i), ctx);
    times.push(performance.now() - started);
  }
  times.sort((a, b) => a - b);
  return { label, medianMs: quantile(times, 0.5), p99Ms: quantile(times, 0.99), samples };
}

export function runApplyBench(): ApplyFigure[] {
  const figures: ApplyFigure[] = [];
  const small = buildFleet({ name: 'hosts100', hosts: 100, proxiesPerHost: 10, clusters: 0, nodesPerCluster: 16 });
  figures.push(measureCreateCluster(small, 'create 16-node cluster, 100 hosts x 10 proxies, no clusters'));
  const emptyLarge = buildFleet({
    name: 'hosts1000',
    hosts: 1000,
    proxiesPerHost: 10,
    clusters: 0,
    nodesPerCluster: 16,
  });
  figures.push(measureCreateCluster(emptyLarge, 'create 16-node cluster, 1,000 hosts x 10 proxies, no clusters'));
  const large = buildFleet({ name: 'Large-ish', hosts: 1000, proxiesPerHost: 10, clusters: 500, nodesPerCluster: 16 });
  figures.push(measureCreateCluster(large, 'create 16-node cluster, 1,000 hosts x 10 proxies, 500 clusters'));
  figures.push(
    measureCommand(large, 'failure report on the same fleet', (i) => ({
      kind: 'addFailure',
      address: `unknown:${i % 50}`,
      reporter: 'bench',
    })),
  );
  return figures;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  for (const f of runApplyBench())
    console.log(`${f.label}: median ${f.medianMs.toFixed(3)} ms, p99 ${f.p99Ms.toFixed(3)} ms (${f.samples} samples)`);
}
