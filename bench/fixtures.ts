/** Seeded fleets for the benchmarks (README.md#benchmarks): Small and Large. */
import { applyCommand } from '../src/domain/commands.js';
import type { Command } from '../src/domain/commands.js';
import { emptyStore } from '../src/domain/store.js';
import type { MutableStore } from '../src/domain/types.js';

export interface FleetShape {
  readonly name: string;
  readonly hosts: number;
  readonly proxiesPerHost: number;
  readonly clusters: number;
  readonly nodesPerCluster: number;
}

export const SMALL: FleetShape = { name: 'Small', hosts: 4, proxiesPerHost: 3, clusters: 1, nodesPerCluster: 8 };
export const LARGE: FleetShape = {
  name: 'Large',
  hosts: 1000,
  proxiesPerHost: 10,
  clusters: 1000,
  nodesPerCluster: 16,
};

const CTX = { now: Math.floor(Date.now() / 1000), migrationLimit: 1 };

export function hostName(h: number): string {
  return `10.${Math.floor(h / 250)}.${h % 250}.${1 + (h % 7)}`;
}

export function proxyAddressOf(h: number, i: number): string {
  return `${hostName(h)}:${7000 + i}`;
}

export function clusterNameOf(c: number): string {
  return `cluster-${String(c).padStart(5, '0')}`;
}

/** The commands that build a fleet, in order: proxies first, then clusters. */
export function* fleetCommands(shape: FleetShape): Generator<Command> {
  for (let h = 0; h < shape.hosts; h++) {
    for (let i = 0; i < shape.proxiesPerHost; i++) {
      yield {
        kind: 'addProxy',
        proxy_address: proxyAddressOf(h, i),
        nodes: [`${hostName(h)}:${6000 + 2 * i}`, `${hostName(h)}:${6001 + 2 * i}`],
        host: null,
      };
    }
  }
  for (let c = 0; c < shape.clusters; c++)
    yield { kind: 'addCluster', name: clusterNameOf(c), nodeNumber: shape.nodesPerCluster };
}

export function buildFleet(shape: FleetShape, onlyProxies = false): MutableStore {
  const store = emptyStore();
  for (const cmd of fleetCommands(shape)) {
    if (onlyProxies && cmd.kind === 'addCluster') break;
    const outcome = applyCommand(store, cmd, CTX);
    if (!outcome.ok) throw new Error(`building ${shape.name}: ${cmd.kind} failed with ${outcome.error.code}`);
  }
  return store;
}
