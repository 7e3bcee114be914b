/** The control plane of a jest run: Gateway API CRDs and ours installed before the controllers start. */
import { crdObjects } from '../../manifests/crds.js';
import { repoRoot, startControlPlane, type ControlPlane } from './control-plane.js';
import { gatewayApiCrds } from './install-crds.js';

export type { ControlPlane } from './control-plane.js';

/** Starts the control plane used by the integration tests. */
export function startTestCluster(): Promise<ControlPlane> {
  return startControlPlane({ crds: [...gatewayApiCrds(repoRoot), ...crdObjects()] });
}
