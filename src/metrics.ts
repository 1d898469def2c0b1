/**
 * Prometheus metrics for GET /metrics. Only the main thread records them;
 * the owner thread reports its timings and failures there as events.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** What a prom-client registry reads from a metric object at scrape time. */
interface Exposed {
  readonly name: string;
  readonly help: string;
  readonly type: string;
  readonly aggregator: 'sum';
  readonly values: { metricName?: string; labels: Record<string, string | number>; value: number }[];
}

// Reads are served in well under a millisecond; writes that persist take longer.
const LATENCY_BUCKETS = [
  0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.003, 0.004, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5,
];
const FILE_WRITE_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export interface MetricsOptions {
  /** Process metrics (CPU, memory, event loop lag, GC); cheap, on by default. */
  readonly defaultMetrics?: boolean;
}

export class BrokerMetrics {
  readonly registry = new Registry();
  /** http_requests_total and http_request_duration_seconds: counted in plain numbers, exposed at scrape time. */
  readonly requests = new RequestMetrics();
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
    this.registry.registerMetric(this.requests.counter as never);
    this.registry.registerMetric(this.requests.histogram as never);
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
  observeRequest(route: string, method: string, status: number, seconds: number): void {
    this.requests.series(method, route, status)(seconds);
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

  observeCommand(timings: {
    readonly kind: string;
    readonly applyMs: number;
    readonly persistMs: number;
    readonly publishMs: number;
  }): void {
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

/** One label set of the request metrics: a count and the latency histogram's bucket counts. */
class RequestSeries {
  count = 0;
  sum = 0;
  /** Per bucket of LATENCY_BUCKETS, not cumulative; the last slot is past the largest bound. */
  readonly buckets = new Float64Array(LATENCY_BUCKETS.length + 1);

  constructor(
    readonly route: string,
    readonly method: string,
    readonly status: number,
  ) {}

  observe(seconds: number): void {
    this.count += 1;
    this.sum += seconds;
    let i = 0;
    while (i < LATENCY_BUCKETS.length && seconds > LATENCY_BUCKETS[i]!) i++;
    this.buckets[i]! += 1;
  }
}

/**
 * The per-request metrics, cheap enough for the cached read path: a series
 * is looked up once (the fast path keeps it per route) and recording is a
 * few additions. prom-client sees them only when /metrics is scraped,
 * through two metric objects that render as its Counter and Histogram do.
 */
export class RequestMetrics {
  private readonly all = new Map<string, RequestSeries>();

  /** The recorder of one (method, route pattern, status); hold on to it on hot paths. */
  series(method: string, route: string, status: number): (seconds: number) => void {
    const key = `${method} ${status} ${route}`;
    let series = this.all.get(key);
    if (!series) this.all.set(key, (series = new RequestSeries(route, method, status)));
    const s = series;
    return (seconds) => s.observe(seconds);
  }

  readonly counter = {
    name: 'http_requests_total',
    help: 'HTTP requests answered, by route pattern, method and status code.',
    type: 'counter',
    aggregator: 'sum',
    get: async (): Promise<Exposed> => ({
      name: this.counter.name,
      help: this.counter.help,
      type: 'counter',
      aggregator: 'sum',
      values: [...this.all.values()]
        .filter((s) => s.count > 0)
        .map((s) => ({ labels: { route: s.route, method: s.method, status: String(s.status) }, value: s.count })),
    }),
  };

  readonly histogram = {
    name: 'http_request_duration_seconds',
    help: 'Time from request to answer, by route pattern and method.',
    type: 'histogram',
    aggregator: 'sum',
    get: async (): Promise<Exposed> => {
      // Statuses are one label set in the histogram, as before: merge them.
      const merged = new Map<
        string,
        { route: string; method: string; sum: number; count: number; buckets: Float64Array }
      >();
      for (const s of this.all.values()) {
        if (s.count === 0) continue;
        const key = `${s.method} ${s.route}`;
        let m = merged.get(key);
        if (!m)
          merged.set(
            key,
            (m = { route: s.route, method: s.method, sum: 0, count: 0, buckets: new Float64Array(s.buckets.length) }),
          );
        m.sum += s.sum;
        m.count += s.count;
        for (let i = 0; i < s.buckets.length; i++) m.buckets[i]! += s.buckets[i]!;
      }
      const values: Exposed['values'] = [];
      const name = this.histogram.name;
      for (const m of merged.values()) {
        const labels = { route: m.route, method: m.method };
        let acc = 0;
        LATENCY_BUCKETS.forEach((bound, i) => {
          acc += m.buckets[i]!;
          values.push({ metricName: `${name}_bucket`, labels: { le: bound, ...labels }, value: acc });
        });
        values.push({ metricName: `${name}_bucket`, labels: { le: '+Inf', ...labels }, value: m.count });
        values.push({ metricName: `${name}_sum`, labels, value: m.sum });
        values.push({ metricName: `${name}_count`, labels, value: m.count });
      }
      return { name, help: this.histogram.help, type: 'histogram', aggregator: 'sum', values };
    },
  };
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
