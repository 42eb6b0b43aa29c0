import { z } from 'zod';

/**
 * The CloudNativePG resources the program creates, checked against the fields of the operator's
 * `postgresql.cnpg.io/v1` CRDs that the program uses. The CRDs themselves are not available offline,
 * so this is a hand-kept, strict subset: a misspelt or misplaced field fails here, as it would at
 * the API server.
 */
const quantity = z.string().regex(/^[0-9]+(\.[0-9]+)?(m|Ki|Mi|Gi|Ti)?$/);
const resources = z
  .object({
    requests: z.object({ cpu: quantity, memory: quantity }).strict(),
    limits: z.object({ cpu: quantity, memory: quantity }).strict(),
  })
  .strict();
const metadata = z.object({ name: z.string().regex(/^[a-z0-9-]+$/), namespace: z.string() }).strict();
const secretKeySelector = z.object({ name: z.string(), key: z.string() }).strict();

export const clusterSchema = z
  .object({
    apiVersion: z.literal('postgresql.cnpg.io/v1'),
    kind: z.literal('Cluster'),
    metadata,
    spec: z
      .object({
        instances: z.number().int().min(1),
        imageName: z.string(),
        primaryUpdateStrategy: z.enum(['unsupervised', 'supervised']),
        enablePDB: z.boolean(),
        storage: z.object({ size: quantity, storageClass: z.string().optional() }).strict(),
        bootstrap: z
          .object({
            initdb: z
              .object({
                database: z.string(),
                owner: z.string(),
                secret: z.object({ name: z.string() }).strict(),
              })
              .strict(),
          })
          .strict(),
        affinity: z.object({ enablePodAntiAffinity: z.boolean(), topologyKey: z.string() }).strict(),
        resources,
        monitoring: z.object({ enablePodMonitor: z.boolean() }).strict(),
        backup: z
          .object({
            retentionPolicy: z.string().regex(/^[1-9][0-9]*[dwm]$/),
            barmanObjectStore: z
              .object({
                destinationPath: z.string().startsWith('s3://'),
                endpointURL: z.string().url().optional(),
                s3Credentials: z
                  .object({ accessKeyId: secretKeySelector, secretAccessKey: secretKeySelector })
                  .strict(),
                wal: z.object({ compression: z.enum(['gzip', 'bzip2', 'snappy']) }).strict(),
                data: z.object({ compression: z.enum(['gzip', 'bzip2', 'snappy']) }).strict(),
              })
              .strict(),
          })
          .strict()
          .optional(),
      })
      .strict(),
  })
  .strict();

export const scheduledBackupSchema = z
  .object({
    apiVersion: z.literal('postgresql.cnpg.io/v1'),
    kind: z.literal('ScheduledBackup'),
    metadata,
    spec: z
      .object({
        // CloudNativePG schedules have six fields, seconds first.
        schedule: z.string().regex(/^\S+( \S+){5}$/),
        backupOwnerReference: z.enum(['none', 'self', 'cluster']),
        cluster: z.object({ name: z.string() }).strict(),
      })
      .strict(),
  })
  .strict();

/** A Helm release as the program declares it: a pinned chart from an https repository, or the local chart. */
export const releaseSchema = z
  .object({
    name: z.string().regex(/^[a-z0-9-]{1,53}$/),
    chart: z.string().min(1),
    version: z
      .string()
      .regex(/^[0-9]+\.[0-9]+\.[0-9]+$/)
      .optional(),
    repositoryOpts: z
      .object({ repo: z.string().startsWith('https://') })
      .strict()
      .optional(),
    namespace: z.string().min(1),
    createNamespace: z.boolean().optional(),
    values: z.record(z.string(), z.unknown()),
    skipAwait: z.boolean().optional(),
    waitForJobs: z.boolean().optional(),
    timeout: z.number().int().positive().optional(),
    compat: z.string().optional(),
  })
  .strict()
  .refine((r) => r.chart.startsWith('/') || (r.version && r.repositoryOpts), {
    message: 'a remote chart needs an exact version and a repository',
  });
