// The monitor's Prometheus metrics, in the app's registry (GET /metrics).
import client from 'prom-client';

export function monitorMetrics(registry: client.Registry) {
  const registers = [registry];
  return {
    findings: new client.Counter({
      name: 'tuf_monitor_findings_total',
      help: 'Log entries and publications the monitor flagged',
      labelNames: ['kind'] as const,
      registers,
    }),
    polls: new client.Counter({
      name: 'tuf_monitor_polls_total',
      help: 'Monitor polls by outcome',
      labelNames: ['outcome'] as const,
      registers,
    }),
    entries: new client.Counter({ name: 'tuf_monitor_entries_read_total', help: 'Log entries the monitor read', registers }),
    unauthentic: new client.Counter({
      name: 'tuf_monitor_unauthentic_entries_total',
      help: 'Entries naming a delegated identity that did not verify (not flagged)',
      registers,
    }),
    lastSuccess: new client.Gauge({
      name: 'tuf_monitor_last_success_timestamp_seconds',
      help: 'End of the last successful poll',
      registers,
    }),
    lag: new client.Gauge({ name: 'tuf_monitor_lag_entries', help: 'Entries in the log the monitor has not read yet', registers }),
  };
}

export type MonitorMetrics = ReturnType<typeof monitorMetrics>;
