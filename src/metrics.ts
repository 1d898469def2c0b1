/**
 * Prometheus metrics for GET /metrics. Only the main thread records them;
 * the owner thread reports its timings and failures there as events.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

// Reads are served in well under a millisecond; writes that persist take longer.
const LATENCY_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.003, 0.004, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];
const FILE_WRITE_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export interface MetricsOptions {
  /** Process metrics (CPU, memory, event loop lag, GC); cheap, on by default. */
  readonly defaultMetrics?: boolean;
}

export class BrokerMetrics {
  readonly registry = new Registry();
  private readonly requests: Counter<'route' | 'method' | 'status'>;
  private readonly requestDuration: Histogram<'route' | 'method'>;
  private readonly generation: Gauge;
  private readonly publishDuration: Histogram;
  private readonly ownerRoundTrip: Histogram;
  private readonly fileWriteDuration: Histogram;
  private readonly fileWriteFailures: Counter;
  private readonly replicationFailures: Counter<'address'>;
  private readonly commandDuration: Histogram<'kind' | 'phase'>;
  private readonly role: Gauge<'role'>;
  private readonly leadershipChanges: Counter;
  private readonly etcdCommitDuration: Histogram;
  private readonly watchLagRevisions: Gauge;
  private readonly staleSeconds: Gauge;
  private currentRole: string | null = null;

  constructor(options: MetricsOptions = {}) {
    const registers = [this.registry];
    this.requests = new Counter({
      name: 'http_requests_total',
      help: 'HTTP requests answered, by route pattern, method and status code.',
      labelNames: ['route', 'method', 'status'],
      registers,
    });
    this.requestDuration = new Histogram({
      name: 'http_request_duration_seconds',
      help: 'Time from request to answer, by route pattern and method.',
      labelNames: ['route', 'method'],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.generation = new Gauge({
      name: 'snapshot_generation',
      help: 'Generation of the latest published metadata snapshot.',
      registers,
    });
    this.publishDuration = new Histogram({
      name: 'snapshot_publish_seconds',
      help: 'Time to publish one snapshot to the readers.',
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.ownerRoundTrip = new Histogram({
      name: 'owner_roundtrip_seconds',
      help: 'Time from handing a write to the owner thread to its answer arriving back, including the wait for both threads to be scheduled.',
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.fileWriteDuration = new Histogram({
      name: 'meta_file_write_seconds',
      help: 'Time to write and fsync the metadata file.',
      buckets: FILE_WRITE_BUCKETS,
      registers,
    });
    this.fileWriteFailures = new Counter({
      name: 'meta_file_write_failures_total',
      help: 'Metadata file writes that failed.',
      registers,
    });
    this.replicationFailures = new Counter({
      name: 'replication_failures_total',
      help: 'Failed metadata pushes, by replica address.',
      labelNames: ['address'],
      registers,
    });
    this.commandDuration = new Histogram({
      name: 'owner_command_seconds',
      help: 'Time the owner thread spent on one write, by command kind and phase (apply, persist, publish).',
      labelNames: ['kind', 'phase'],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.role = new Gauge({
      name: 'broker_role',
      help: 'etcd mode: 1 for the role this broker holds (leader or follower), 0 for the other.',
      labelNames: ['role'],
      registers,
    });
    this.leadershipChanges = new Counter({
      name: 'broker_leadership_changes_total',
      help: 'etcd mode: times this broker became or stopped being the leader.',
      registers,
    });
    this.etcdCommitDuration = new Histogram({
      name: 'etcd_commit_seconds',
      help: 'etcd mode: time to commit one write to etcd.',
      buckets: FILE_WRITE_BUCKETS,
      registers,
    });
    this.watchLagRevisions = new Gauge({
      name: 'etcd_watch_lag_revisions',
      help: 'etcd mode: etcd revisions not yet applied here, as of the last probe (an upper bound: other keys count too).',
      registers,
    });
    this.staleSeconds = new Gauge({
      name: 'etcd_stale_seconds',
      help: 'etcd mode: seconds since etcd last answered this broker; its reads may be this stale (0 while in contact).',
      registers,
    });
    if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: this.registry });
  }

  /** `route` must be the route pattern, never the raw path, to keep label values bounded. */
  /** Label children by route, method and status: looking labels up costs more than counting on a hot path. */
  private readonly requestChildren = new Map<string, { count: { inc(): void }; duration: { observe(v: number): void } }>();

  observeRequest(route: string, method: string, status: number, seconds: number): void {
    const key = `${method} ${status} ${route}`;
    let child = this.requestChildren.get(key);
    if (!child) {
      child = { count: this.requests.labels({ route, method, status: String(status) }), duration: this.requestDuration.labels({ route, method }) };
      this.requestChildren.set(key, child);
    }
    child.count.inc();
    child.duration.observe(seconds);
  }

  setSnapshotGeneration(generation: number): void {
    this.generation.set(generation);
  }

  observeSnapshotPublish(seconds: number): void {
    this.publishDuration.observe(seconds);
  }

  observeOwnerRoundTrip(seconds: number): void {
    this.ownerRoundTrip.observe(seconds);
  }

  observeMetaFileWrite(seconds: number): void {
    this.fileWriteDuration.observe(seconds);
  }

  countMetaFileWriteFailure(): void {
    this.fileWriteFailures.inc();
  }

  observeCommand(timings: { readonly kind: string; readonly applyMs: number; readonly persistMs: number; readonly publishMs: number }): void {
    this.commandDuration.observe({ kind: timings.kind, phase: 'apply' }, timings.applyMs / 1000);
    this.commandDuration.observe({ kind: timings.kind, phase: 'persist' }, timings.persistMs / 1000);
    this.commandDuration.observe({ kind: timings.kind, phase: 'publish' }, timings.publishMs / 1000);
  }

  /** Records the role; true when it changed. */
  setRole(role: 'leader' | 'follower'): boolean {
    if (this.currentRole === role) return false;
    if (this.currentRole !== null && (role === 'leader' || this.currentRole === 'leader')) this.leadershipChanges.inc();
    this.currentRole = role;
    this.role.set({ role: 'leader' }, role === 'leader' ? 1 : 0);
    this.role.set({ role: 'follower' }, role === 'follower' ? 1 : 0);
    return true;
  }

  observeEtcdCommit(seconds: number): void {
    this.etcdCommitDuration.observe(seconds);
  }

  setWatchLag(revisions: number, staleSeconds: number): void {
    this.watchLagRevisions.set(revisions);
    this.staleSeconds.set(staleSeconds);
  }

  countReplicationFailure(address: string): void {
    this.replicationFailures.inc({ address });
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  render(): Promise<string> {
    return this.registry.metrics();
  }
}

let shared: BrokerMetrics | undefined;

/** The process-wide instance, created on first use so that importing this module starts nothing. */
export function getMetrics(): BrokerMetrics {
  shared ??= new BrokerMetrics();
  return shared;
}

/** Text exposition of the process-wide metrics. */
export function renderMetrics(): Promise<string> {
  return getMetrics().render();
}

/** The Content-Type for renderMetrics() output. */
export const METRICS_CONTENT_TYPE: string = Registry.PROMETHEUS_CONTENT_TYPE;
