/** Jest globalTeardown: stops the control plane of global-setup.ts and removes its directory. */
import type { ControlPlane } from './control-plane.js';

// Same key as CONTROL_PLANE_KEY in global-setup.ts; not imported, because jest loads this file without its resolver.
const CONTROL_PLANE_KEY = '__agentwayTestControlPlane';

export default async function globalTeardown(): Promise<void> {
  const globals = globalThis as Record<string, unknown>;
  const controlPlane = globals[CONTROL_PLANE_KEY] as ControlPlane | undefined;
  delete globals[CONTROL_PLANE_KEY];
  await controlPlane?.stop();
}
