import { describe, expect, it } from 'vitest';
import {
  ADMIN_USER,
  envLines,
  fakeNodes,
  kubeconfig,
  NODE_LEASE_SECONDS,
  processSpecs,
  tokenFile,
} from '../infra/cluster/plan.js';

/** The loopback control plane's plan (infra/cluster/plan.ts): the flags the cluster lane relies on. */
const ports = {
  etcdClient: 2379,
  etcdPeer: 2380,
  apiserver: 6443,
  controllerManager: 10257,
  scheduler: 10259,
  kwok: 10247,
};
const specs = processSpecs({ dir: '/tmp/c', bin: '/b' }, ports);
const args = (name: string) => specs.find((s) => s.name === name)!.args;

describe('the loopback control plane plan', () => {
  it('starts etcd first, then the API server, then what needs it, each from the tools folder', () => {
    expect(specs.map((s) => s.name)).toEqual([
      'etcd',
      'kube-apiserver',
      'kube-controller-manager',
      'kube-scheduler',
      'kwok',
    ]);
    expect(specs.map((s) => s.command)).toEqual(specs.map((s) => `/b/${s.name}`));
  });

  it('runs the API server on loopback with token auth, RBAC, Pod Security and service-account keys', () => {
    const a = args('kube-apiserver');
    expect(a).toEqual(
      expect.arrayContaining([
        '--etcd-servers=http://127.0.0.1:2379',
        '--bind-address=127.0.0.1',
        '--secure-port=6443',
        '--token-auth-file=/tmp/c/pki/tokens.csv',
        '--authorization-mode=Node,RBAC',
        '--enable-admission-plugins=PodSecurity,NodeRestriction',
        '--service-account-key-file=/tmp/c/pki/sa.pub',
        '--service-account-signing-key-file=/tmp/c/pki/sa.key',
      ]),
    );
  });

  it('reaches kubelets by InternalIP only, with a client certificate, checking theirs against the CA', () => {
    expect(args('kube-apiserver')).toEqual(
      expect.arrayContaining([
        '--kubelet-preferred-address-types=InternalIP',
        '--kubelet-client-certificate=/tmp/c/pki/apiserver-kubelet-client.crt',
        '--kubelet-client-key=/tmp/c/pki/apiserver-kubelet-client.key',
        '--kubelet-certificate-authority=/tmp/c/pki/ca.crt',
      ]),
    );
    // The fake nodes' InternalIP is what the API server would dial for them: this machine's.
    expect(args('kwok')).toContain('--node-ip=127.0.0.1');
  });

  it('advertises 127.0.0.1 with no real node, the host’s end of the node’s veth pair with one', () => {
    expect(args('kube-apiserver')).toContain('--advertise-address=127.0.0.1');
    const withNode = processSpecs({ dir: '/tmp/c', bin: '/b' }, ports, { advertise: '10.250.255.2' });
    const api = withNode.find((s) => s.name === 'kube-apiserver')!.args;
    // Published as the `kubernetes` Service's endpoint; the API server still listens on loopback.
    expect(api).toEqual(
      expect.arrayContaining(['--advertise-address=10.250.255.2', '--bind-address=127.0.0.1']),
    );
  });

  it('keeps every listener on loopback and the node lifecycle controller on', () => {
    for (const name of ['kube-controller-manager', 'kube-scheduler'])
      expect(args(name)).toContain('--bind-address=127.0.0.1');
    expect(args('etcd')).toContain('--listen-client-urls=http://127.0.0.1:2379');
    expect(args('kube-controller-manager')).toContain('--controllers=*');
  });

  it('starts kwok with node leases from the first moment, managing only the annotated nodes', () => {
    expect(args('kwok')).toEqual(
      expect.arrayContaining([
        `--node-lease-duration-seconds=${NODE_LEASE_SECONDS}`,
        '--manage-all-nodes=false',
        '--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake',
      ]),
    );
    expect(NODE_LEASE_SECONDS).toBe(40);
  });

  it('has two fake nodes in two zones, annotated for kwok', () => {
    const nodes = fakeNodes();
    expect(nodes.map((n) => n.metadata.labels['topology.kubernetes.io/zone'])).toEqual(['zone-a', 'zone-b']);
    expect(new Set(nodes.map((n) => n.metadata.name)).size).toBe(2);
    for (const n of nodes) expect(n.metadata.annotations['kwok.x-k8s.io/node']).toBe('fake');
  });

  it('gives kubectl, Pulumi and the ops tools one admin token, trusting the cluster CA', () => {
    expect(tokenFile('t0k')).toBe(`t0k,${ADMIN_USER},${ADMIN_USER},"system:masters"\n`);
    const k = JSON.parse(kubeconfig('https://127.0.0.1:6443', '/tmp/c/pki/ca.crt', 't0k'));
    expect(k.clusters[0].cluster).toEqual({
      server: 'https://127.0.0.1:6443',
      'certificate-authority': '/tmp/c/pki/ca.crt',
    });
    expect(k.users[0].user).toEqual({ token: 't0k' });
    expect(k['current-context']).toBe(k.contexts[0].name);
    expect(envLines('/tmp/c/kubeconfig', '/b')).toEqual([
      'export KUBECONFIG=/tmp/c/kubeconfig',
      'export PATH=/b:$PATH',
    ]);
  });
});
