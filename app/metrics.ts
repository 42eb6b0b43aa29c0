import client from 'prom-client';
import type { Db } from './data/db.js';
import { outboxBacklog } from './data/event-repository.js';
import { lastJobSuccesses } from './data/job-run-repository.js';
import { ledgerHealth } from './data/ledger-repository.js';
import { countPendingReceipts } from './data/receipt-repository.js';

/**
 * One Prometheus registry per broker instance (tests run several in one process). Every metric
 * the broker exports is declared here, so `/metrics` is one place to read.
 */
export function createMetrics(db: Db) {
  const registry = new client.Registry();
  /** A gauge read from the database at scrape time, through a repository. */
  const countGauge = (name: string, help: string, count: (db: Db) => Promise<number>) =>
    new client.Gauge({
      name,
      help,
      registers: [registry],
      async collect() {
        try {
          this.set(await count(db));
        } catch {
          // Before migrations or while the database is down the gauge keeps its last value.
        }
      },
    });
  client.collectDefaultMetrics({ register: registry, prefix: 'ainp_' });

  const httpRequests = new client.Counter({
    name: 'ainp_http_requests_total',
    help: 'HTTP requests by method, route template and status',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [registry],
  });
  const httpDuration = new client.Histogram({
    name: 'ainp_http_request_duration_seconds',
    help: 'HTTP request duration by method, route template and status',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
  new client.Gauge({
    name: 'ainp_db_pool_connections',
    help: 'PostgreSQL pool connections by state',
    labelNames: ['state'] as const,
    registers: [registry],
    collect() {
      this.set({ state: 'total' }, db.totalCount);
      this.set({ state: 'idle' }, db.idleCount);
      this.set({ state: 'waiting' }, db.waitingCount);
    },
  });
  const shortPath = new client.Counter({
    name: 'ainp_http_short_path_total',
    help: 'Requests answered in front of the Express chain (plain registrations), by route template',
    labelNames: ['route'] as const,
    registers: [registry],
  });
  const dbErrors = new client.Counter({
    name: 'ainp_db_errors_total',
    help: 'Database errors seen by request handlers and jobs',
    registers: [registry],
  });
  const dependencyUp = new client.Gauge({
    name: 'ainp_dependency_up',
    help: '1 when a dependency answers, 0 when it is down or replaced by an in-process stand-in',
    labelNames: ['dependency'] as const,
    registers: [registry],
  });
  const jobRuns = new client.Counter({
    name: 'ainp_job_runs_total',
    help: 'Periodic job runs by job and outcome (in the process that ran them)',
    labelNames: ['job_name', 'outcome'] as const,
    registers: [registry],
  });
  const jobDuration = new client.Gauge({
    name: 'ainp_job_last_duration_seconds',
    help: 'Duration of the last run of each job (in the process that ran it)',
    labelNames: ['job_name'] as const,
    registers: [registry],
  });
  // Read from job_runs, so every replica reports the runs of short-lived CronJob pods too.
  // (`job_name`, not `job`: Prometheus owns the `job` label.)
  new client.Gauge({
    name: 'ainp_job_last_success_timestamp_seconds',
    help: 'Unix time of the last successful run of each periodic job, from job_runs',
    labelNames: ['job_name'] as const,
    registers: [registry],
    async collect() {
      try {
        for (const r of await lastJobSuccesses(db)) this.set({ job_name: r.job }, r.at);
      } catch {
        // Before migrations or while the database is down the gauge keeps its last values.
      }
    },
  });

  const cacheRequests = new client.Counter({
    name: 'ainp_cache_requests_total',
    help: 'Reputation/stats cache lookups by kind and result (hit, miss, bypass while Valkey is down)',
    labelNames: ['kind', 'result'] as const,
    registers: [registry],
  });
  const rateLimited = new client.Counter({
    name: 'ainp_rate_limited_total',
    help: 'Requests refused by a rate limit, by route class',
    labelNames: ['limit'] as const,
    registers: [registry],
  });

  countGauge('ainp_receipts_pending', 'Task receipts waiting for quorum', countPendingReceipts);
  const finalizations = new client.Counter({
    name: 'ainp_receipt_finalizations_total',
    help: 'Receipts that left pending, by result (finalized, failed, disputed, expired) and path (api, job)',
    labelNames: ['result', 'path'] as const,
    registers: [registry],
  });
  const attestations = new client.Counter({
    name: 'ainp_attestations_total',
    help: 'Attestations accepted, by type',
    labelNames: ['type'] as const,
    registers: [registry],
  });
  const writeBatchSize = new client.Histogram({
    name: 'ainp_write_batch_size',
    help: 'Writes per group-commit batch (data/group-commit.ts), by operation',
    labelNames: ['op'] as const,
    buckets: [1, 2, 5, 10, 20, 50, 100, 200, 500],
    registers: [registry],
  });
  const writeBatchQueued = new client.Gauge({
    name: 'ainp_write_batch_queued',
    help: 'Writes waiting for their group-commit batch, by operation',
    labelNames: ['op'] as const,
    registers: [registry],
  });

  const creditsDistributed = new client.Counter({
    name: 'ainp_credits_distributed_atomic_total',
    help: 'Credits paid out by the hourly distribution, in atomic units',
    registers: [registry],
  });
  const usefulnessProofs = new client.Counter({
    name: 'ainp_usefulness_proofs_total',
    help: 'Usefulness proofs by result (counted, flagged)',
    labelNames: ['result'] as const,
    registers: [registry],
  });

  const wsConnections = new client.Gauge({
    name: 'ainp_ws_connections',
    help: 'Open WebSocket connections in this process',
    registers: [registry],
  });
  const eventsPublished = new client.Counter({
    name: 'ainp_events_published_total',
    help: 'Outbox events published to JetStream by this process',
    registers: [registry],
  });
  const eventsDelivered = new client.Counter({
    name: 'ainp_events_delivered_total',
    help: 'Events sent to WebSocket connections of this process',
    registers: [registry],
  });
  countGauge('ainp_outbox_backlog', 'Outbox events not yet published to JetStream', outboxBacklog);
  // SPEC section 10: the sum of every ledger balance. Anything but 0 means money was created or
  // destroyed outside a transfer; the chart's PrometheusRule pages on it.
  countGauge(
    'ainp_ledger_imbalance_atomic',
    'Sum of all ledger account balances in atomic units (0 when the books balance)',
    async (d) => Number((await ledgerHealth(d)).imbalance),
  );

  return {
    wsConnections,
    eventsPublished,
    eventsDelivered,
    creditsDistributed,
    usefulnessProofs,
    finalizations,
    attestations,
    writeBatchSize,
    writeBatchQueued,
    cacheRequests,
    rateLimited,
    registry,
    httpRequests,
    shortPath,
    httpDuration,
    dbErrors,
    dependencyUp,
    jobRuns,
    jobDuration,
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
