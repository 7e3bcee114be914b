/** The control plane of a jest run: Gateway API CRDs and ours installed before the controllers start. */
import { crdObjects } from '../../manifests/crds.js';
import { repoRoot, startControlPlane, type ControlPlane } from './control-plane.js';
import { gatewayApiCrds } from './install-crds.js';

export type { ControlPlane } from './control-plane.js';

/** Starts the control plane used by the integration tests. */
export async function startTestCluster(): Promise<ControlPlane> {
  // Before anything slow: without the Gateway API CRDs the run stops here, at once, saying what to set.
  const gatewayApi = await gatewayApiCrds(repoRoot);
  return startControlPlane({ crds: [...gatewayApi, ...crdObjects()] });
}
