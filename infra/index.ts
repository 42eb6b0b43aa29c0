/**
 * The Pulumi program (Pulumi.yaml points here). Stack config: Pulumi.<stack>.yaml; every key is
 * declared with its default in Pulumi.yaml and validated by infra/config.ts.
 */
import { deploy } from './program.js';

const out = await deploy();

export const environment = out.environment;
export const url = out.url;
export const imageRef = out.imageRef;
export const imageDigest = out.imageDigest;
export const namespace = out.namespace;
export const release = out.release;
export const deployment = out.deployment;
export const migrationJob = out.migrationJob;
export const cronJobs = out.cronJobs;
export const pou = out.pou;
export const adminToken = out.adminToken;
export const kubeContext = out.kubeContext;
