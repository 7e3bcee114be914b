/**
 * A real Kubernetes 1.20 control plane for integration tests: etcd, kube-apiserver and kube-controller-manager on
 * free loopback ports, with everything (data, certificates, kubeconfigs, logs) in one temporary directory.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { accessSync, constants, mkdtempSync, readFileSync, statfsSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KubeConfig } from '@kubernetes/client-node';
import { stringify } from 'yaml';
import { writeCertificates } from './certs.js';
import { installCrds, type CrdObject } from './install-crds.js';
import { logTail, ProcessGroup, type Component } from './processes.js';
import { ensureTestNode, startPodReaper } from './test-node.js';

/** Root of the repository (this file is test/env/control-plane.ts). */
export const repoRoot = resolve(fileURLToPath(new URL('.', import.meta.url)), '../..');

/**
 * Controllers that kube-controller-manager runs: garbage collection, Deployments → ReplicaSets → Pods, Services →
 * Endpoints and EndpointSlices, namespace deletion, and service accounts with their tokens.
 */
export const DEFAULT_CONTROLLERS: readonly string[] = [
  'garbagecollector', 'deployment', 'replicaset', 'endpoint', 'endpointslice', 'namespace',
  'serviceaccount', 'serviceaccount-token',
];

export interface ControlPlaneOptions {
  /**
   * Directory holding etcd, kube-apiserver and kube-controller-manager.
   * @default the directory printed by scripts/envtest-assets.sh
   */
  readonly assetsDir?: string;
  /**
   * CRDs to install before kube-controller-manager starts, so that the garbage collector's first discovery already
   * sees them (it otherwise notices new resources only on its 30 s resync).
   * @default none
   */
  readonly crds?: readonly CrdObject[];
  /**
   * Controllers of kube-controller-manager.
   * @default DEFAULT_CONTROLLERS
   */
  readonly controllers?: readonly string[];
  /**
   * Create the test Node and run the pod reaper (see test-node.ts).
   * @default true
   */
  readonly testNode?: boolean;
  /**
   * How long each component may take to become healthy.
   * @default 60_000
   */
  readonly startTimeoutMs?: number;
}

/** A running control plane. */
export interface ControlPlane {
  /** Temporary directory holding data, certificates, kubeconfigs and `<component>.log`; removed by stop(). */
  readonly dir: string;
  /** Admin kubeconfig (user in system:masters, token auth). */
  readonly kubeconfigPath: string;
  /** `https://127.0.0.1:<port>`. */
  readonly server: string;
  /** Bearer token of the admin user. */
  readonly token: string;
  /** Milliseconds spent in each start-up phase, and `total`. */
  readonly timings: Readonly<Record<string, number>>;
  /** Sends `signal` to a component's process group: SIGKILL, SIGSTOP and SIGCONT for fault tests. */
  signal(component: ComponentName, signal: NodeJS.Signals): void;
  /** Waits until a component has exited, starts it again with its original arguments and waits until it is healthy. */
  restart(component: ComponentName): Promise<void>;
  /** Stops every process and removes `dir`. */
  stop(): Promise<void>;
}

export type ComponentName = 'etcd' | 'kube-apiserver' | 'kube-controller-manager';

/**
 * Directory of the control-plane binaries, from scripts/envtest-assets.sh. The first call on a machine builds them
 * (minutes; progress on stderr); later calls return the cached directory at once. Throws when they can't be had.
 */
export function envtestAssetsDir(): string {
  const script = join(repoRoot, 'scripts/envtest-assets.sh');
  try {
    return execFileSync('bash', [script], { stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8' }).trim();
  } catch (err) {
    throw new Error(`${script} failed, so there is no control plane for the integration tests: ${(err as Error).message}`);
  }
}

/** Starts etcd, kube-apiserver and kube-controller-manager and waits until all are healthy. */
export async function startControlPlane(opts: ControlPlaneOptions = {}): Promise<ControlPlane> {
  const assetsDir = opts.assetsDir ?? envtestAssetsDir();
  // Two ports can be handed out twice between probing and binding; a fresh set of ports fixes that.
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(assetsDir, opts);
    } catch (err) {
      if (!(err instanceof PortInUseError) || attempt >= 3) throw err;
    }
  }
}

class PortInUseError extends Error {}

async function startOnce(assetsDir: string, opts: ControlPlaneOptions): Promise<ControlPlane> {
  const started = Date.now();
  const timings: Record<string, number> = {};
  const mark = (phase: string, since: number): number => {
    const now = Date.now();
    timings[phase] = now - since;
    return now;
  };
  const timeoutMs = opts.startTimeoutMs ?? 60_000;
  const dir = mkdtempSync(join(scratchRoot(), 'agentway-cp-'));
  const group = new ProcessGroup(dir);
  try {
    let t = Date.now();
    const certs = writeCertificates(dir);
    const [etcdPort, etcdPeerPort, apiPort, kcmPort] = await freePorts(4);
    const adminToken = randomBytes(24).toString('hex');
    const kcmToken = randomBytes(24).toString('hex');
    writeFileSync(join(dir, 'tokens.csv'), [
      `${adminToken},admin,admin,"system:masters"`,
      `${kcmToken},system:kube-controller-manager,kube-controller-manager,"system:masters"`,
      '',
    ].join('\n'), { mode: 0o600 });
    const server = `https://127.0.0.1:${apiPort}`;
    const ca = readFileSync(certs.caCert);
    const kubeconfigPath = join(dir, 'admin.kubeconfig');
    writeKubeconfig(kubeconfigPath, server, ca, 'admin', adminToken);
    const kcmKubeconfig = join(dir, 'kube-controller-manager.kubeconfig');
    writeKubeconfig(kcmKubeconfig, server, ca, 'kube-controller-manager', kcmToken);
    t = mark('certificates', t);

    // How to start each component and tell that it is healthy, kept for restart().
    const running = new Map<ComponentName, { component: Component; bin: string; args: string[]; healthy: () => Promise<boolean> }>();
    const launch = async (name: ComponentName, bin: string, args: string[], healthy: () => Promise<boolean>): Promise<Component> => {
      const component = group.start(name, bin, args);
      running.set(name, { component, bin, args, healthy });
      await waitHealthy(component, timeoutMs, healthy);
      return component;
    };

    const etcdUrl = `http://127.0.0.1:${etcdPort}`;
    const peerUrl = `http://127.0.0.1:${etcdPeerPort}`;
    await launch('etcd', join(assetsDir, 'etcd'), [
      '--name=default', `--data-dir=${join(dir, 'etcd')}`,
      `--listen-client-urls=${etcdUrl}`, `--advertise-client-urls=${etcdUrl}`,
      `--listen-peer-urls=${peerUrl}`, `--initial-advertise-peer-urls=${peerUrl}`,
      `--initial-cluster=default=${peerUrl}`, '--logger=zap', '--log-outputs=stderr',
    ], async () => {
      const res = await httpGet(`${etcdUrl}/health`, {});
      return res.status === 200 && res.body.includes('"true"');
    });
    t = mark('etcd', t);

    await launch('kube-apiserver', join(assetsDir, 'kube-apiserver'), [
      `--etcd-servers=${etcdUrl}`,
      '--bind-address=127.0.0.1', '--advertise-address=127.0.0.1', `--secure-port=${apiPort}`, '--insecure-port=0',
      `--cert-dir=${join(dir, 'apiserver-certs')}`,
      `--tls-cert-file=${certs.serverCert}`, `--tls-private-key-file=${certs.serverKey}`,
      `--token-auth-file=${join(dir, 'tokens.csv')}`,
      '--authorization-mode=RBAC',
      '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
      `--service-account-key-file=${certs.serviceAccountPub}`,
      `--service-account-signing-key-file=${certs.serviceAccountKey}`,
      '--service-cluster-ip-range=10.0.0.0/16',
      // No kubelet mounts service-account tokens, and the loopback address is not a valid Endpoints address.
      '--disable-admission-plugins=ServiceAccount',
      '--endpoint-reconciler-type=none',
      '--allow-privileged=true',
    ], async () => {
      const res = await httpGet(`${server}/readyz`, { ca, token: adminToken });
      return res.status === 200;
    });
    t = mark('kube-apiserver', t);

    const kc = new KubeConfig();
    kc.loadFromFile(kubeconfigPath);
    if (opts.crds && opts.crds.length > 0) {
      await installCrds(kc, opts.crds);
      t = mark('crds', t);
    }

    await launch('kube-controller-manager', join(assetsDir, 'kube-controller-manager'), [
      `--kubeconfig=${kcmKubeconfig}`,
      `--controllers=${(opts.controllers ?? DEFAULT_CONTROLLERS).join(',')}`,
      '--leader-elect=false',
      '--use-service-account-credentials=false',
      `--service-account-private-key-file=${certs.serviceAccountKey}`,
      `--root-ca-file=${certs.caCert}`,
      '--bind-address=127.0.0.1', `--secure-port=${kcmPort}`, '--port=0',
      `--cert-dir=${join(dir, 'kube-controller-manager-certs')}`,
    ], async () => {
      const res = await httpGet(`https://127.0.0.1:${kcmPort}/healthz`, { insecure: true });
      return res.status === 200;
    });
    t = mark('kube-controller-manager', t);

    const reaper = opts.testNode === false ? undefined : startPodReaper(kc);
    if (opts.testNode !== false) {
      await ensureTestNode(kc);
      mark('test-node', t);
    }
    timings.total = Date.now() - started;

    return {
      dir, kubeconfigPath, server, token: adminToken, timings,
      signal(name, sig) {
        const pid = running.get(name)?.component.child.pid;
        if (pid !== undefined) process.kill(-pid, sig);
      },
      async restart(name) {
        const r = running.get(name)!;
        await r.component.exited;
        await launch(name, r.bin, r.args, r.healthy);
      },
      async stop() {
        await reaper?.stop();
        await group.stop();
      },
    };
  } catch (err) {
    group.killAllSync();
    throw err;
  }
}

/** `/dev/shm` when it is a roomy tmpfs (etcd fsyncs every write; etcd 3.4 has no --unsafe-no-fsync), else the OS temp dir. */
function scratchRoot(): string {
  if (process.env.AGENTWAY_TEST_TMPDIR) return process.env.AGENTWAY_TEST_TMPDIR;
  try {
    accessSync('/dev/shm', constants.W_OK);
    const fs = statfsSync('/dev/shm');
    if (fs.bavail * fs.bsize > 1024 ** 3) return '/dev/shm';
  } catch {
    // Not Linux, or no /dev/shm.
  }
  return tmpdir();
}

function writeKubeconfig(path: string, server: string, ca: Buffer, user: string, token: string): void {
  const config = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'agentway-test', cluster: { server, 'certificate-authority-data': ca.toString('base64') } }],
    users: [{ name: user, user: { token } }],
    contexts: [{ name: 'agentway-test', context: { cluster: 'agentway-test', user, namespace: 'default' } }],
    'current-context': 'agentway-test',
  };
  writeFileSync(path, stringify(config), { mode: 0o600 });
}

async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(Array.from({ length: count }, () => new Promise<ReturnType<typeof createServer>>(
    (ok, fail) => {
      const srv = createServer();
      srv.once('error', fail);
      srv.listen(0, '127.0.0.1', () => ok(srv));
    })));
  const ports = servers.map((s) => (s.address() as AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise((ok) => s.close(ok))));
  return ports;
}

async function waitHealthy(component: Component, timeoutMs: number, healthy: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError = '';
  for (;;) {
    if (component.hasExited()) {
      const tail = logTail(component);
      const message = `${component.name} exited during start-up (${await component.exited}); last lines of ${component.logPath}`
        + ` (removed unless AGENTWAY_TEST_KEEP_DIR is set):\n${tail}`;
      throw /address already in use/i.test(tail) ? new PortInUseError(message) : new Error(message);
    }
    try {
      if (await healthy()) return;
      lastError = 'not healthy yet';
    } catch (err) {
      lastError = (err as Error).message;
    }
    if (Date.now() > deadline) {
      throw new Error(`${component.name} not healthy after ${timeoutMs} ms (${lastError}); last lines of ${component.logPath}`
        + ` (removed unless AGENTWAY_TEST_KEEP_DIR is set):\n${logTail(component)}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

interface GetOptions {
  readonly ca?: Buffer;
  readonly token?: string;
  readonly insecure?: boolean;
}

function httpGet(url: string, opts: GetOptions): Promise<{ status: number; body: string }> {
  return new Promise((ok, fail) => {
    const https = url.startsWith('https:');
    const req = (https ? httpsRequest : httpRequest)(url, {
      method: 'GET',
      timeout: 2000,
      headers: opts.token ? { Authorization: `Bearer ${opts.token}` } : {},
      ...(https ? { ca: opts.ca, rejectUnauthorized: !opts.insecure } : {}),
    }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => { body += chunk; });
      res.on('end', () => ok({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${url} timed out`)));
    req.on('error', fail);
    req.end();
  });
}
