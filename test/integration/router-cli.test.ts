/** `agentway router` as a process: flags, start-up log, probes and the OpenAI API on the ports it was given. */
import { execFile } from 'node:child_process';
import { createServer } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { CliProcess, startCli } from '../env/cli-process.js';
import { Scenarios } from '../env/controller.js';
import { KUBECONFIG_ENV, eventually } from '../env/kube.js';

const ROOT = process.cwd();
const TSX = path.join(ROOT, 'node_modules', '.bin', 'tsx');
const CLI = path.join(ROOT, 'controller', 'cli.ts');
const scenarios = new Scenarios();
let ns: string;
let router: CliProcess | undefined;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => { const { port } = s.address() as { port: number }; s.close(() => resolve(port)); });
  });
}

beforeAll(async () => { ns = await scenarios.namespace('router-cli'); });
afterAll(async () => {
  await router?.stop();
  await scenarios.deleteNamespaces();
});

test('runs on the given ports, says the admin API is off, answers probes and /v1/models, stops on SIGTERM', async () => {
  const [port, metricsPort] = [await freePort(), await freePort()];
  router = await startCli(['router', '--kubeconfig', process.env[KUBECONFIG_ENV]!, '--namespace', ns, '--host', '127.0.0.1',
    '--port', String(port), '--metrics-port', String(metricsPort)], { startedMessage: 'model router started' });
  expect(router.started).toMatchObject({ port, metricsPort, adminPort: 'off' });
  expect(router.log.join('\n')).toContain('admin API off');
  await eventually(async () => expect((await fetch(`http://127.0.0.1:${metricsPort}/readyz`)).status).toBe(200), { timeoutMs: 60_000 });
  const models = await (await fetch(`http://127.0.0.1:${port}/v1/models`)).json();
  expect(models).toEqual({ object: 'list', data: [] });
  const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  expect(metrics).toContain('agentway_router_requests_total');
  expect(await router.stop()).toBe(0);
}, 90_000);

test('a malformed --admin-token-secret is refused with a message and a non-zero exit', async () => {
  const out = await new Promise<{ code: number; stderr: string }>((resolve) => {
    execFile(TSX, [CLI, 'router', '--admin-token-secret', 'no-slash'], { cwd: ROOT }, (err, _stdout, se) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stderr: se });
    });
  });
  expect(out.code).not.toBe(0);
  expect(out.stderr).toContain('--admin-token-secret must be <namespace>/<name>');
}, 90_000);
