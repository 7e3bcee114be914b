/** CustomResourceDefinitions for the Kubernetes 1.20 test apiserver. */
import { ApiextensionsV1Api, KubeConfig, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { crdObjectsOf, findGatewayApiCrds } from '../../scripts/gateway-api-crds.js';

export type CrdObject = Record<string, any>;

/** Field manager of everything the test environment applies. */
export const TEST_FIELD_MANAGER = 'agentway-test';

/** The Gateway API v1.3.0 CRDs, found by scripts/gateway-api-crds.ts (shared with `imports/`, never copied). */
export async function gatewayApiCrds(repoRoot: string): Promise<CrdObject[]> {
  return crdObjectsOf(await findGatewayApiCrds({ repoRoot }));
}

/**
 * A copy of `crd` that a 1.20 apiserver accepts: every `x-kubernetes-validations` key (CEL, 1.25+) removed, every
 * `default: ""` dropped (1.20 checks defaults against the schema, and "" fails minLength), and the `status` and
 * `metadata.creationTimestamp` of generated files left out. The argument is not modified.
 */
export function crdForKube120(crd: CrdObject): CrdObject {
  const { status: _status, ...rest } = crd;
  const copy = strip(rest) as CrdObject;
  if (copy.metadata) delete copy.metadata.creationTimestamp;
  return copy;
}

function strip(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(strip);
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value)) {
    if (key === 'x-kubernetes-validations') continue;
    if (key === 'default' && v === '') continue;
    out[key] = strip(v);
  }
  return out;
}

/**
 * Server-side applies each CRD (adapted with `crdForKube120`) and waits until all of them are Established.
 * Returns the CRD names.
 */
export async function installCrds(kc: KubeConfig, crds: readonly CrdObject[], timeoutMs = 30_000): Promise<string[]> {
  // Not KubernetesObjectApi.patch: it serializes known kinds through client-node's typed models, which read
  // `xKubernetesIntOrString` where the wire object has `x-kubernetes-int-or-string`, and silently drop every
  // `x-kubernetes-*` key of a CRD schema. The typed API's patch sends its body as it is.
  const api = kc.makeApiClient(ApiextensionsV1Api);
  const serverSideApply = setHeaderOptions('Content-Type', PatchStrategy.ServerSideApply);
  const adapted = crds.map(crdForKube120);
  for (const crd of adapted) {
    try {
      await api.patchCustomResourceDefinition(
        { name: crd.metadata.name, body: crd, fieldManager: TEST_FIELD_MANAGER, force: true }, serverSideApply);
    } catch (err) {
      throw new Error(`applying CRD ${crd.metadata?.name}: ${describeApiError(err)}`);
    }
  }
  const names = adapted.map((c) => String(c.metadata.name));
  await waitEstablished(kc, names, timeoutMs);
  return names;
}

async function waitEstablished(kc: KubeConfig, names: readonly string[], timeoutMs: number): Promise<void> {
  const api = kc.makeApiClient(ApiextensionsV1Api);
  const deadline = Date.now() + timeoutMs;
  let pending = [...names];
  while (pending.length > 0) {
    const next: string[] = [];
    for (const name of pending) {
      const crd = await api.readCustomResourceDefinition({ name });
      const established = crd.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True');
      if (!established) next.push(name);
    }
    pending = next;
    if (pending.length === 0) return;
    if (Date.now() > deadline) throw new Error(`CRDs not Established after ${timeoutMs} ms: ${pending.join(', ')}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The status code and message of a client-node ApiException, or the error's message. */
export function describeApiError(err: unknown): string {
  const e = err as { code?: number; body?: unknown; message?: string };
  if (typeof e?.code === 'number') {
    let message = e.body;
    if (typeof message === 'string') {
      try { message = JSON.parse(message).message ?? message; } catch { /* not JSON */ }
    } else if (message && typeof message === 'object') {
      message = (message as { message?: string }).message ?? JSON.stringify(message);
    }
    return `HTTP ${e.code}: ${String(message)}`;
  }
  return String(e?.message ?? err);
}
