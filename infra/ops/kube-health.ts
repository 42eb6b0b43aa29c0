import { cronPeriodSeconds } from '../config.js';

/**
 * The health decisions over what kubectl returns (`-o json`). Pure: tested with hand-written JSON in
 * kubectl's shape (test/fixtures/kubectl), not yet recorded from a cluster.
 * `npm run health` gathers the inputs (infra/ops/health.ts) and prints the report.
 */
type Condition = { type: string; status: string; reason?: string; message?: string };
export type Deployment = {
  metadata: { name: string; generation?: number };
  spec: { replicas?: number };
  status: {
    observedGeneration?: number;
    replicas?: number;
    updatedReplicas?: number;
    readyReplicas?: number;
    availableReplicas?: number;
    conditions?: Condition[];
  };
};
export type Pod = {
  metadata: { name: string; deletionTimestamp?: string };
  status: {
    phase?: string;
    conditions?: Condition[];
    containerStatuses?: {
      name: string;
      ready: boolean;
      restartCount: number;
      state?: Record<string, { reason?: string }>;
    }[];
  };
};
export type HorizontalPodAutoscaler = {
  metadata: { name: string };
  spec: { minReplicas?: number; maxReplicas: number };
};
export type Job = {
  metadata: { name: string };
  status: { succeeded?: number; failed?: number; active?: number; conditions?: Condition[] };
};
export type CronJob = {
  metadata: { name: string; creationTimestamp?: string };
  spec: { schedule: string; suspend?: boolean };
  status: { lastScheduleTime?: string; lastSuccessfulTime?: string; active?: unknown[] };
};

export type Level = 'ok' | 'warn' | 'fail';
export type Check = { name: string; level: Level; detail: string };
export type HealthInputs = {
  deployment: Deployment | undefined;
  /** The release's HPA: its minimum is the floor of the replicas wanted, whatever spec.replicas says. */
  hpa?: HorizontalPodAutoscaler | undefined;
  pods: Pod[];
  migrationJob: Job | undefined;
  cronJobs: CronJob[];
  /** What `/ready` answered (through a port-forward or at --ready-url): status code, or the error. */
  ready: { status: number; body?: string } | { error: string };
  now: Date;
};

const cond = (cs: Condition[] | undefined, type: string) => cs?.find((c) => c.type === type);

/**
 * The replicas a release must have: the Deployment's, but never fewer than its HPA's minimum. An HPA
 * does nothing to a Deployment scaled to 0 (it reads that as autoscaling switched off), so a
 * Deployment scaled to 0 by hand would otherwise look like a complete rollout of 0/0.
 */
export function wantedReplicas(d: Deployment | undefined, hpa?: HorizontalPodAutoscaler): number {
  return Math.max(d?.spec.replicas ?? 1, hpa?.spec.minReplicas ?? 0);
}

export function rolloutCheck(d: Deployment | undefined, want = wantedReplicas(d)): Check {
  const name = 'rollout';
  if (!d) return { name, level: 'fail', detail: 'the Deployment does not exist' };
  const s = d.status;
  const scaled = d.spec.replicas ?? 1;
  if (scaled < want)
    return {
      name,
      level: 'fail',
      detail: `scaled to ${scaled} replicas, below the HPA minimum of ${want}`,
    };
  const progressing = cond(s.conditions, 'Progressing');
  if (progressing?.reason === 'ProgressDeadlineExceeded')
    return {
      name,
      level: 'fail',
      detail: `rollout stuck: ${progressing.message ?? 'progress deadline exceeded'}`,
    };
  if ((s.observedGeneration ?? 0) < (d.metadata.generation ?? 0))
    return { name, level: 'fail', detail: 'the controller has not observed the latest spec yet' };
  const updated = s.updatedReplicas ?? 0;
  const available = s.availableReplicas ?? 0;
  const total = s.replicas ?? 0;
  if (updated < want || available < want || total > updated)
    return {
      name,
      level: 'fail',
      detail: `rollout incomplete: ${updated}/${want} updated, ${available}/${want} available, ${total - updated} old replicas`,
    };
  return { name, level: 'ok', detail: `${want}/${want} replicas updated and available` };
}

export function podsCheck(pods: Pod[], want: number): Check {
  const name = 'pods';
  const live = pods.filter((p) => !p.metadata.deletionTimestamp);
  const ready = live.filter((p) => cond(p.status.conditions, 'Ready')?.status === 'True');
  const crashing = live.flatMap((p) =>
    (p.status.containerStatuses ?? [])
      .filter((c) => c.state?.waiting?.reason === 'CrashLoopBackOff')
      .map((c) => `${p.metadata.name}/${c.name}`),
  );
  const restarts = live.reduce(
    (n, p) => n + (p.status.containerStatuses ?? []).reduce((m, c) => m + c.restartCount, 0),
    0,
  );
  if (crashing.length) return { name, level: 'fail', detail: `crash-looping: ${crashing.join(', ')}` };
  if (ready.length < want) return { name, level: 'fail', detail: `${ready.length}/${want} pods ready` };
  return {
    name,
    level: restarts > 0 ? 'warn' : 'ok',
    detail: `${ready.length} pods ready${restarts ? `, ${restarts} container restarts` : ''}`,
  };
}

export function migrationCheck(job: Job | undefined): Check {
  const name = 'migration job';
  if (!job)
    return {
      name,
      level: 'warn',
      detail:
        'not found (removed a day after it finished, or never ran); /ready still proves the schema is at head',
    };
  if (
    cond(job.status.conditions, 'Failed')?.status === 'True' ||
    ((job.status.failed ?? 0) > 0 && !job.status.succeeded)
  )
    return {
      name,
      level: 'fail',
      detail: `failed: ${cond(job.status.conditions, 'Failed')?.message ?? 'see kubectl logs job/' + job.metadata.name}`,
    };
  if (cond(job.status.conditions, 'Complete')?.status === 'True' || (job.status.succeeded ?? 0) > 0)
    return { name, level: 'ok', detail: 'succeeded' };
  return { name, level: 'fail', detail: `not finished (${job.status.active ?? 0} active)` };
}

/** A CronJob is healthy when its last success is within twice its period. */
export function cronJobCheck(c: CronJob, now: Date): Check {
  const name = `cronjob ${c.metadata.name}`;
  const period = cronPeriodSeconds(c.spec.schedule, now);
  const limit = 2 * period;
  if (c.spec.suspend) return { name, level: 'warn', detail: 'suspended' };
  const last = c.status.lastSuccessfulTime ? new Date(c.status.lastSuccessfulTime) : undefined;
  if (!last) {
    const created = c.metadata.creationTimestamp ? new Date(c.metadata.creationTimestamp) : undefined;
    const age = created ? (now.getTime() - created.getTime()) / 1000 : Infinity;
    return age <= limit
      ? { name, level: 'ok', detail: `no run yet; created ${Math.round(age)} s ago (limit ${limit} s)` }
      : { name, level: 'fail', detail: `never succeeded in ${Math.round(age)} s (limit ${limit} s)` };
  }
  const since = Math.round((now.getTime() - last.getTime()) / 1000);
  return since <= limit
    ? { name, level: 'ok', detail: `last success ${since} s ago (limit ${limit} s)` }
    : { name, level: 'fail', detail: `last success ${since} s ago, over twice its schedule (${limit} s)` };
}

export function readyCheck(ready: HealthInputs['ready']): Check {
  const name = '/ready';
  if ('error' in ready) return { name, level: 'fail', detail: `unreachable: ${ready.error}` };
  if (ready.status === 200) return { name, level: 'ok', detail: '200' };
  return { name, level: 'fail', detail: `${ready.status} ${ready.body?.slice(0, 200) ?? ''}`.trim() };
}

export function evaluateHealth(i: HealthInputs): { checks: Check[]; exitCode: number } {
  const want = wantedReplicas(i.deployment, i.hpa);
  const checks = [
    rolloutCheck(i.deployment, want),
    podsCheck(i.pods, want),
    migrationCheck(i.migrationJob),
    ...i.cronJobs.map((c) => cronJobCheck(c, i.now)),
    readyCheck(i.ready),
  ];
  return { checks, exitCode: checks.some((c) => c.level === 'fail') ? 1 : 0 };
}

export function formatReport(checks: Check[]): string {
  const mark: Record<Level, string> = { ok: 'ok  ', warn: 'WARN', fail: 'FAIL' };
  return checks.map((c) => `${mark[c.level]} ${c.name}: ${c.detail}`).join('\n');
}
