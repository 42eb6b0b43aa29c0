/**
 * The cluster stack's program (Pulumi.yaml in this folder points here): one stack per Kubernetes
 * cluster, deployed before the app stacks that name it in `clusterStack`.
 */
import { deployCluster } from './program.js';

const out = deployCluster();

export const kubeContext = out.kubeContext;
export const monitoringNamespace = out.monitoringNamespace;
export const monitoringSelectorLabels = out.monitoringSelectorLabels;
export const cnpgOperator = out.cnpgOperator;
export const prometheusStack = out.prometheusStack;
