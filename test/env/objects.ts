/** Reading and writing objects of the test control plane by kind, namespace and name. */
import { API_VERSION } from '../../manifests/api.js';
import { ApiError, KubeClient } from '../../controller/kube/kube-client.js';
import { resourcePath, typeOfKind } from '../../controller/kube/resources.js';

export type Obj = Record<string, any>;

export function pathOf(kind: string, ns: string, name?: string): string {
  return resourcePath(typeOfKind(kind), ns, name);
}

export function ignoreNotFound(err: unknown): undefined {
  if (err instanceof ApiError && err.status === 404) return undefined;
  throw err;
}

export class TestObjects {
  public constructor(private readonly kube: KubeClient) {}

  public async get(kind: string, ns: string, name: string): Promise<Obj | undefined> {
    return this.kube.request('GET', pathOf(kind, ns, name)).catch(ignoreNotFound);
  }

  public async mustGet(kind: string, ns: string, name: string): Promise<Obj> {
    const o = await this.get(kind, ns, name);
    if (!o) throw new Error(`${kind} ${ns}/${name} not found`);
    return o;
  }

  /** Creates one of our CRs. */
  public async create(ns: string, kind: string, name: string, spec: Obj): Promise<Obj> {
    return this.kube.request('POST', pathOf(kind, ns), { body: { apiVersion: API_VERSION, kind, metadata: { name }, spec } });
  }

  public async patchSpec(ns: string, kind: string, name: string, spec: Obj): Promise<Obj> {
    return this.kube.request('PATCH', pathOf(kind, ns, name), { body: { spec }, contentType: 'application/merge-patch+json' });
  }

  public async remove(kind: string, ns: string, name: string): Promise<void> {
    await this.kube.request('DELETE', pathOf(kind, ns, name), { body: { propagationPolicy: 'Background' } });
  }
}

/** The condition of `type` in an object's status. */
export function cond(o: Obj | undefined, type: string): Obj | undefined {
  return o?.status?.conditions?.find((c: Obj) => c.type === type);
}
