/**
 * Jest globalSetup: starts one test control plane for the whole run, with the Gateway API CRDs and ours installed.
 * Runs in jest's parent process before the workers start, so the workers inherit AGENTWAY_TEST_KUBECONFIG.
 * There is no fallback: if the control plane can't be started, the run fails here.
 *
 * Jest loads this file with Node's own resolver, which neither maps `./x.js` to `./x.ts` nor transforms what this
 * file imports, so everything else is loaded through tsx.
 */
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { tsImport } from 'tsx/esm/api';
import type { ControlPlane } from './control-plane.js';

/** Key on globalThis under which global-teardown.ts finds the control plane. */
export const CONTROL_PLANE_KEY = '__agentwayTestControlPlane';

export default async function globalSetup(_globalConfig: unknown, projectConfig: { rootDir: string }): Promise<void> {
  const testCluster = join(projectConfig.rootDir, 'test/env/test-cluster.ts');
  const { startTestCluster } = await tsImport(testCluster, pathToFileURL(testCluster).href) as typeof import('./test-cluster.js');
  const controlPlane: ControlPlane = await startTestCluster();
  (globalThis as Record<string, unknown>)[CONTROL_PLANE_KEY] = controlPlane;
  process.env.AGENTWAY_TEST_KUBECONFIG = controlPlane.kubeconfigPath;
  const phases = Object.entries(controlPlane.timings).map(([k, v]) => `${k} ${v} ms`).join(', ');
  process.stderr.write(`\ntest control plane at ${controlPlane.server} (${controlPlane.dir}): ${phases}\n`);
}
