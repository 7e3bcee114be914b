/**
 * Status written with server-side apply on the status subresource. Each writer applies under its own field
 * manager and sends every status field it owns each time: a field it stops sending disappears, and fields
 * other writers own (a ClientInstance's lastActivityTime, a ModelAPI's discoveredModels) are kept.
 */
import { KubeClient } from './kube-client.js';
import { resourcePath, resourceType } from './resources.js';

/** Field managers of status writers: one per writer, so that their fields never clobber each other. */
export const STATUS_MANAGERS = {
  controller: 'agentway',
  routeServer: 'agentway-route-server',
  discovery: 'agentway-discovery',
} as const;

export interface StatusTarget {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: { readonly name: string; readonly namespace?: string };
}

/** Applies `status` as the whole of what `fieldManager` owns in the object's status; the object as stored. */
export async function applyStatus(
  client: KubeClient, obj: StatusTarget, status: Record<string, unknown>, fieldManager: string,
): Promise<{ status?: Record<string, unknown> } | undefined> {
  const t = resourceType(obj.apiVersion, obj.kind);
  return client.request('PATCH', `${resourcePath(t, obj.metadata.namespace, obj.metadata.name)}/status`, {
    body: {
      apiVersion: obj.apiVersion, kind: obj.kind,
      metadata: { name: obj.metadata.name, ...(obj.metadata.namespace ? { namespace: obj.metadata.namespace } : {}) },
      status,
    },
    contentType: 'application/apply-patch+yaml',
    query: { fieldManager, force: true },
  });
}

/**
 * Removes status fields whatever manager owns them. Only for fields a writer set before it wrote status by
 * server-side apply: those are owned by an update, so leaving them out of an apply does not remove them.
 */
export async function clearStatusFields(client: KubeClient, obj: StatusTarget, fields: readonly string[]): Promise<void> {
  const t = resourceType(obj.apiVersion, obj.kind);
  await client.request('PATCH', `${resourcePath(t, obj.metadata.namespace, obj.metadata.name)}/status`, {
    body: { status: Object.fromEntries(fields.map((f) => [f, null])) }, contentType: 'application/merge-patch+json',
  });
}
