/**
 * The container image, run with buildah: its ENTRYPOINT is the agentway CLI, it synthesizes the examples exactly as
 * the host does, and the controller in it, configured the in-cluster way (service-account token and CA mounted at
 * /var/run/secrets/kubernetes.io/serviceaccount, KUBERNETES_SERVICE_HOST/PORT, the token of the ServiceAccount
 * `agentway install` renders), reconciles an example CR on the test control plane.
 *
 * Builds the image with scripts/image.sh when buildah's store lacks it. Where buildah cannot run, says why and skips.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { parse } from 'yaml';
import { KubeClient } from '../../controller/kube/kube-client.js';
import { CONTROLLER_NAME, LEASE_NAME } from '../../manifests/defaults.js';
import { repoRoot } from '../env/control-plane.js';
import { testClient } from '../env/controller.js';
import { applyInstallRbac, serviceAccountToken } from '../env/install-rbac.js';
import { deleteNamespace, eventually, kubeConfig, newNamespace } from '../env/kube.js';
import { Obj, TestObjects, cond, pathOf } from '../env/objects.js';
import { IMAGE, WorkingContainer, buildahUnusable, imageConfig, imageExists } from './buildah.js';

const unusable = buildahUnusable();
if (unusable) process.stderr.write(`test/image: skipped, ${unusable}\n`);
const describeIfBuildah = unusable ? describe.skip : describe;

// Where the kubelet mounts the service-account token, CA and namespace: /var/run/secrets/kubernetes.io/serviceaccount.
// In the Debian base /var/run is a symlink to /run, and buildah cannot mount through a symlink, so the volume goes
// to the path the symlink resolves to; the controller reads it under /var/run as it would in a pod.
const SA_DIR = '/run/secrets/kubernetes.io/serviceaccount';

let tmp: string;
let container: WorkingContainer;

beforeAll(() => {
  if (unusable) return;
  if (!imageExists()) execFileSync('bash', [path.join(repoRoot, 'scripts/image.sh')], { stdio: 'inherit' });
  tmp = mkdtempSync(path.join(os.tmpdir(), 'agentway-image-'));
  chmodSync(tmp, 0o755);
  container = WorkingContainer.create();
}, 20 * 60_000);

afterAll(() => {
  container?.remove();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

/** A directory the image's non-root user may write to. */
function writableDir(name: string): string {
  const dir = path.join(tmp, name);
  mkdirSync(dir);
  chmodSync(dir, 0o777);
  return dir;
}

const readDir = (dir: string) => Object.fromEntries(readdirSync(dir).sort().map((f) => [f, readFileSync(path.join(dir, f), 'utf8')]));

describeIfBuildah(`the image ${IMAGE}`, () => {
  test('its ENTRYPOINT is the agentway CLI, run as a numeric non-root user', async () => {
    const help = await container.run(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^Usage: agentway \[options\] \[command\]/);
    for (const command of ['synth', 'crds', 'install', 'controller', 'route-server', 'router']) {
      expect(help.stdout).toMatch(new RegExp(`^  ${command}\\b`, 'm'));
    }
    const user = imageConfig().User ?? '';
    expect(user).toMatch(/^[1-9][0-9]*(:[0-9]+)?$/);
    const install = execFileSync(path.join(repoRoot, 'node_modules/.bin/tsx'), [path.join(repoRoot, 'controller/cli.ts'), 'install'], { encoding: 'utf8' });
    const runAsUsers = new Set(install.split(/^---$/m).map((d) => parse(d)).filter((o) => o?.kind === 'Deployment')
      .map((d: Obj) => d.spec.template.spec.securityContext.runAsUser));
    expect([...runAsUsers]).toEqual([Number(user.split(':')[0])]);
  }, 60_000);

  test('synthesizes examples/ byte for byte as the host does', async () => {
    const inImage = writableDir('synth-image');
    const run = await container.run(['synth', '-f', '/examples', '-o', '/out'], {
      volumes: [`${path.join(repoRoot, 'examples')}:/examples:ro`, `${inImage}:/out`],
    });
    expect(run).toMatchObject({ code: 0 });
    const onHost = path.join(tmp, 'synth-host');
    execFileSync(path.join(repoRoot, 'node_modules/.bin/tsx'), [path.join(repoRoot, 'controller/cli.ts'), 'synth', '-f', 'examples', '-o', onHost], { cwd: repoRoot, stdio: 'pipe' });
    const files = readDir(onHost);
    expect(Object.keys(files).length).toBeGreaterThan(3);
    expect(readDir(inImage)).toEqual(files);

  }, 120_000);

  describe('the controller, configured the in-cluster way', () => {
    let ns: string;
    let kube: KubeClient;
    let clusterObjects: string[] = [];

    beforeAll(async () => {
      kube = testClient();
      ns = await newNamespace('image');
      clusterObjects = await applyInstallRbac(kube, ns);
    });

    afterAll(async () => {
      for (const p of clusterObjects) await kube.request('DELETE', p).catch(() => undefined);
      if (ns) await deleteNamespace(ns);
    });

    test('reconciles an example CR with the token of the ServiceAccount install renders', async () => {
      const sa = path.join(tmp, 'serviceaccount');
      mkdirSync(sa, { mode: 0o755 });
      const token = await serviceAccountToken(kube, ns, CONTROLLER_NAME);
      const server = new URL(kubeConfig().getCurrentCluster()!.server);
      writeFileSync(path.join(sa, 'token'), token, { mode: 0o644 });
      writeFileSync(path.join(sa, 'ca.crt'), Buffer.from(kubeConfig().getCurrentCluster()!.caData!, 'base64'), { mode: 0o644 });
      writeFileSync(path.join(sa, 'namespace'), ns, { mode: 0o644 });
      const [metricsPort, probePort] = [await freePort(), await freePort()];

      const controller = container.start([
        'controller', '--namespace', ns, '--leader-election-namespace', ns, '--identity', `image-test-${ns}`,
        '--host', '127.0.0.1', '--metrics-port', String(metricsPort), '--probe-port', String(probePort), '--no-create-gateway',
      ], {
        volumes: [`${sa}:${SA_DIR}:ro`],
        env: { KUBERNETES_SERVICE_HOST: server.hostname, KUBERNETES_SERVICE_PORT: server.port, POD_NAME: `image-test-${ns}` },
      });
      try {
        const example = parse(readFileSync(path.join(repoRoot, 'examples/mcpserver.yaml'), 'utf8'));
        const created = await kube.request('POST', pathOf('MCPServer', ns), { body: { ...example, metadata: { name: example.metadata.name } } });
        const objects = new TestObjects(kube);
        const deployment = await eventually(() => objects.mustGet('Deployment', ns, `mcp-${example.metadata.name}`), { timeoutMs: 60_000 });
        expect(deployment.metadata.ownerReferences).toEqual([expect.objectContaining({ kind: 'MCPServer', uid: created.metadata.uid, controller: true })]);
        expect(deployment.metadata.managedFields.map((f: Obj) => f.manager)).toContain('agentway');
        const cr = await eventually(async () => {
          const o = await objects.mustGet('MCPServer', ns, example.metadata.name);
          expect(cond(o, 'Ready')).toMatchObject({ observedGeneration: o.metadata.generation });
          return o;
        }, { timeoutMs: 30_000 });
        expect(cond(cr, 'Ready')).toMatchObject({ status: 'False', reason: 'NoReadyBackends' });
        const lease = await objects.mustGet('Lease', ns, LEASE_NAME);
        expect(lease.spec.holderIdentity).toBe(`image-test-${ns}`);
      } catch (err) {
        process.stderr.write(`controller output:\n${controller.output()}\n`);
        throw err;
      } finally {
        await controller.stop();
      }
    }, 120_000);
  });
});

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}
