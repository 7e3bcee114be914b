/**
 * Ready endpoints of a backend, from what the caches hold: the pods of a ModelAPI's rendered pools, or the
 * EndpointSlices of the Services a `backend.selector` matches. Pure functions of cached objects.
 */
import { LabelSelector } from '../../manifests/api.js';

type Obj = { metadata: { name: string; namespace?: string; labels?: Record<string, string>; deletionTimestamp?: string }; [k: string]: any };

/** Whether `labels` satisfy a Kubernetes label selector (an empty selector matches everything). */
export function matchesSelector(labels: Readonly<Record<string, string>> | undefined, selector: LabelSelector): boolean {
  const l = labels ?? {};
  for (const [k, v] of Object.entries(selector.matchLabels ?? {})) if (l[k] !== v) return false;
  for (const e of selector.matchExpressions ?? []) {
    const has = Object.prototype.hasOwnProperty.call(l, e.key);
    const values = e.values ?? [];
    switch (e.operator) {
      case 'In': if (!has || !values.includes(l[e.key])) return false; break;
      case 'NotIn': if (has && values.includes(l[e.key])) return false; break;
      case 'Exists': if (!has) return false; break;
      case 'DoesNotExist': if (has) return false; break;
      default: return false;
    }
  }
  return true;
}

/** Whether a pod is Ready, not terminating and has an IP. */
export function podReady(pod: Obj): boolean {
  return !pod.metadata.deletionTimestamp && !!pod.status?.podIP
    && (pod.status?.conditions ?? []).some((c: { type: string; status: string }) => c.type === 'Ready' && c.status === 'True');
}

/** `host:port`, with IPv6 hosts in brackets. */
export function address(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/**
 * The target port of Service port `servicePort` in each of the Service's EndpointSlices, as kube-proxy maps
 * it: by the port's name (an unnamed Service port matches the slice's unnamed port). Returns the ready
 * addresses `ip:port`; none when the Service has no such port.
 */
export function sliceAddresses(service: Obj, slices: readonly Obj[], servicePort: number): string[] {
  const port = (service.spec?.ports ?? []).find((p: { port: number }) => p.port === servicePort);
  if (!port) return [];
  const name = port.name ?? '';
  const out = new Set<string>();
  for (const slice of slices) {
    if (slice.metadata.namespace !== service.metadata.namespace || slice.metadata.labels?.['kubernetes.io/service-name'] !== service.metadata.name) continue;
    if (slice.addressType !== undefined && slice.addressType !== 'IPv4' && slice.addressType !== 'IPv6') continue;
    const target = (slice.ports ?? []).find((p: { name?: string }) => (p.name ?? '') === name)?.port;
    if (typeof target !== 'number') continue;
    for (const ep of slice.endpoints ?? []) {
      // A nil ready condition means ready (discovery.k8s.io semantics); terminating endpoints are not ready.
      if (ep.conditions?.ready === false) continue;
      for (const ip of ep.addresses ?? []) out.add(address(ip, target));
    }
  }
  return [...out].sort();
}
