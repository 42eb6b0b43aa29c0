/**
 * `npm run cluster -- up|down|env`: a Kubernetes control plane on loopback (etcd, kube-apiserver
 * with Pod Security admission, kube-controller-manager, kube-scheduler, kwok with two fake nodes in
 * two zones) with the project's CRDs installed; `up --node` also starts a real node (containerd,
 * kubelet, kube-proxy: infra/cluster/node.ts; needs root and scripts/install-deps.sh node).
 * `up` leaves it running and records it in
 * .test-data/cluster.json; `env` prints the KUBECONFIG and PATH lines for it (`eval "$(npm run
 * --silent cluster -- env)"`); `down` stops every process and removes its folder.
 * Exit status: 0 done, 1 failed, 2 usage.
 */
import { existsSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { ROOT, startControlPlane, stopCluster, type ClusterState } from './control-plane.js';
import { envLines } from './plan.js';

const POINTER = process.env.AINP_CLUSTER_STATE ?? path.join(ROOT, '.test-data/cluster.json');
const out = (line: string) => process.stdout.write(`${line}\n`);

function current(): ClusterState | undefined {
  return existsSync(POINTER) ? (JSON.parse(readFileSync(POINTER, 'utf8')) as ClusterState) : undefined;
}

async function main(command: string | undefined) {
  const state = current();
  switch (command) {
    case 'up': {
      if (state && existsSync(state.dir)) {
        process.stderr.write(`a cluster is already up (${state.server}); run: npm run cluster -- down\n`);
        return 1;
      }
      const started = Date.now();
      const cp = await startControlPlane({
        stopOnExit: false,
        pointer: POINTER,
        node: process.argv.slice(3).includes('--node'),
      });
      process.stderr.write(`cluster up at ${cp.server} in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
      envLines(cp.kubeconfig, cp.bin).forEach(out);
      return 0;
    }
    case 'env':
      if (!state) {
        process.stderr.write('no cluster is up (npm run cluster -- up)\n');
        return 1;
      }
      envLines(state.kubeconfig, state.bin).forEach(out);
      return 0;
    case 'down':
      if (state) await stopCluster(state);
      rmSync(POINTER, { force: true });
      process.stderr.write(state ? `cluster at ${state.server} stopped\n` : 'no cluster was up\n');
      return 0;
    default:
      process.stderr.write('usage: npm run cluster -- up [--node]|down|env\n');
      return 2;
  }
}

main(process.argv[2]).then(
  (code) => process.exit(code),
  (err: Error) => {
    process.stderr.write(`cluster: ${err.message}\n`);
    process.exit(1);
  },
);
