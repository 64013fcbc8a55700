// HTTP request counts and latencies by method, route and status, kept in typed arrays so that
// recording a request allocates nothing (issue 14: the read fast path answers tens of thousands of
// requests a second, and prom-client's counters and timers built label objects and closures for
// each). Exposed through prom-client as the same two metrics as before, `http_requests_total` and
// `http_request_duration_seconds`, summed over the workers of a cluster like any counter.
import type client from 'prom-client';

/** Upper bounds of the latency buckets, in seconds (Prometheus' `le`). */
const BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5] as const;
/** Routes beyond this many (method and route pairs) are counted as one `other` route. */
const MAX_ROUTES = 128;
/** Statuses 100 to 599, one slot each. */
const STATUS_SLOTS = 500;

export type RouteId = number;

export class RequestStats {
  private readonly names: { method: string; route: string }[] = [];
  private readonly ids = new Map<string, RouteId>();
  private readonly counts = new Float64Array(MAX_ROUTES * STATUS_SLOTS);
  private readonly buckets = new Float64Array(MAX_ROUTES * (BUCKETS.length + 1));
  private readonly sums = new Float64Array(MAX_ROUTES);

  /** The id of a method and route, made on first use: keep it (the fast path looks its ids up once). */
  route(method: string, route: string): RouteId {
    const key = `${method} ${route}`;
    let id = this.ids.get(key);
    if (id === undefined) {
      if (this.names.length >= MAX_ROUTES - 1) return this.route('*', 'other');
      id = this.names.length;
      this.names.push({ method, route });
      this.ids.set(key, id);
    }
    return id;
  }

  /** One answered request: no allocation. */
  record(route: RouteId, status: number, seconds: number): void {
    const slot = status >= 100 && status < 600 ? status - 100 : STATUS_SLOTS - 1;
    this.counts[route * STATUS_SLOTS + slot]! += 1;
    let b = 0;
    while (b < BUCKETS.length && seconds > BUCKETS[b]!) b++;
    this.buckets[route * (BUCKETS.length + 1) + b]! += 1;
    this.sums[route]! += seconds;
  }

  /** Requests counted for a route and status (tests). */
  count(method: string, route: string, status: number): number {
    const id = this.ids.get(`${method} ${route}`);
    return id === undefined ? 0 : this.counts[id * STATUS_SLOTS + (status - 100)]!;
  }

  /** The two metrics, in the form prom-client's registry prints and its cluster aggregation sums. */
  registerWith(registry: client.Registry): void {
    const counter = {
      name: 'http_requests_total',
      help: 'HTTP requests by route and status',
      type: 'counter',
      aggregator: 'sum',
      get: async () => {
        const values: client.MetricValue<string>[] = [];
        this.names.forEach(({ method, route }, id) => {
          for (let slot = 0; slot < STATUS_SLOTS; slot++) {
            const n = this.counts[id * STATUS_SLOTS + slot]!;
            if (n > 0) values.push({ labels: { method, route, status: String(slot + 100) }, value: n });
          }
        });
        return { name: counter.name, help: counter.help, type: 'counter', aggregator: 'sum', values };
      },
      reset: () => {},
    };
    const histogram = {
      name: 'http_request_duration_seconds',
      help: 'HTTP request latency by route: until the answer is handed to the connection',
      type: 'histogram',
      aggregator: 'sum',
      get: async () => {
        const values: client.MetricValueWithName<string>[] = [];
        this.names.forEach(({ method, route }, id) => {
          const base = id * (BUCKETS.length + 1);
          let cumulative = 0;
          for (let b = 0; b <= BUCKETS.length; b++) {
            cumulative += this.buckets[base + b]!;
            const le = b < BUCKETS.length ? BUCKETS[b]! : '+Inf';
            values.push({ metricName: `${histogram.name}_bucket`, labels: { le, method, route }, value: cumulative });
          }
          values.push({ metricName: `${histogram.name}_sum`, labels: { method, route }, value: this.sums[id]! });
          values.push({ metricName: `${histogram.name}_count`, labels: { method, route }, value: cumulative });
        });
        return { name: histogram.name, help: histogram.help, type: 'histogram', aggregator: 'sum', values };
      },
      reset: () => {},
    };
    registry.registerMetric(counter as unknown as client.Metric);
    registry.registerMetric(histogram as unknown as client.Metric);
  }
}
