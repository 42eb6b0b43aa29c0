import { z } from 'zod';

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
