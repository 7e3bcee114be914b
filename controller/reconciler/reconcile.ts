/**
 * One reconcile, in three named steps: the desired objects (references checked, rendered once with the
 * current weights), apply and prune, and the status from the outcome. Every failure is a value that says
 * whether trying again can help. Level-triggered: it works from the cached object, never from the event.
 */
import { Logger } from 'pino';
import { AgentwayResource, ClientPool, Condition, Kind, KubeObject, MODEL_ACCESS_INFO, ResourceStatus } from '../../manifests/api.js';
import { RenderConfig } from '../../manifests/config.js';
import { routeServerGrantName } from '../../manifests/gateway.js';
import { RenderResult, modelAccessGrant, render } from '../../manifests/render.js';
import { validateModelAccess } from '../../manifests/validate.js';
import { WeightState } from '../../manifests/weights.js';
import { ApplyResult, applyObjects, pruneOrphans, typedKey, withOwnership } from './apply.js';
import { CapacitySnapshot } from './capacity.js';
import { Failure, NO_RETRY, failureOf } from './failure.js';
import { parseQueueKey } from './keys.js';
import { deleteIfUnchanged } from '../kube/delete.js';
import { EventRecorder } from '../kube/events.js';
import { Informer } from '../kube/informer.js';
import { KubeClient } from '../kube/kube-client.js';
import { objectKey } from '../kube/resources.js';
import { NewCondition, Reasons, condition, mergeConditions, writeStatus } from './status.js';

export { parseQueueKey, queueKey } from './keys.js';

/** Observed weights of each CR's route: an input of render, never written from here. */
export interface WeightsSource {
  /** The weights to render for a CR; undefined until its capacity has been observed. */
  weightsFor(key: string): Readonly<Record<string, number>> | undefined;
  snapshot(key: string): CapacitySnapshot | undefined;
}

export interface Deps {
  readonly client: KubeClient;
  /** Caches of our CRs, by kind. */
  readonly crs: ReadonlyMap<Kind, Informer>;
  /** Caches of the children we render, by kind (Deployment, Service, HTTPRoute, ReferenceGrant, ...). */
  readonly children: ReadonlyMap<string, Informer>;
  readonly config: () => RenderConfig;
  readonly clock: () => Date;
  readonly log: Logger;
  readonly events: EventRecorder;
  /** Live capacity of the routes' pools; without it, weights follow replicas. */
  readonly capacity?: WeightsSource;
  /**
   * Queue keys of CRs refused because another CR holds an object under the name they derive, by that
   * object's `Kind/namespace/name`: they are queued again when it goes.
   */
  readonly conflicts?: Map<string, Set<string>>;
  /** Cache of ModelAccess objects, whose one rendered grant the controller keeps in place. */
  readonly modelAccesses?: Informer;
}

export interface Outcome {
  /** Writes the API server accepted: objects applied or deleted, and the status. */
  readonly writes: number;
  /** Set when waiting may fix a failure: the key goes back to the queue with backoff. */
  readonly retry?: { readonly detail: string; readonly maxDelayMs?: number };
}

interface Missing { readonly reason: string; readonly message: string }

/** References to other CRs that must exist before anything is applied. */
function missingReference(cr: AgentwayResource, deps: Deps): Missing | undefined {
  const ns = cr.metadata.namespace;
  const has = (kind: Kind, name: string) => deps.crs.get(kind)?.get(objectKey(ns, name)) !== undefined;
  if (cr.kind === 'Agent') {
    const model = cr.spec.modelAPI;
    if (model && !has('ModelAPI', model)) {
      return { reason: Reasons.ModelAPINotFound, message: `spec.modelAPI: ModelAPI "${model}" not found in namespace "${ns}"` };
    }
    const mcp = (cr.spec.mcpServers ?? []).find((m) => !has('MCPServer', m));
    if (mcp) return { reason: Reasons.MCPServerNotFound, message: `spec.mcpServers: MCPServer "${mcp}" not found in namespace "${ns}"` };
  }
  if (cr.kind === 'ClientInstance' && !has('ClientPool', cr.spec.pool)) {
    return { reason: Reasons.ClientPoolNotFound, message: `spec.pool: ClientPool "${cr.spec.pool}" not found in namespace "${ns}"` };
  }
  return undefined;
}

function readyCondition(result: RenderResult, deps: Deps, ns: string): NewCondition {
  const deployments = deps.children.get('Deployment');
  let desired = 0;
  let ready = 0;
  for (const pool of result.pools) {
    desired += pool.replicas;
    ready += deployments?.get(objectKey(ns, pool.objectName))?.status?.readyReplicas ?? 0;
  }
  if (result.pools.length === 0) return condition('Ready', true, Reasons.Ready, 'all objects applied');
  if (desired === 0) return condition('Ready', true, Reasons.ScaledToZero, 'every pool has 0 replicas');
  if (ready === 0) return condition('Ready', false, Reasons.NoReadyBackends, `0/${desired} replicas ready`);
  return condition('Ready', true, Reasons.Ready, `${ready}/${desired} replicas ready`);
}

/** Mirrors the Accepted condition a Gateway controller set on the route for our Gateway. */
function routeAcceptedCondition(result: RenderResult, deps: Deps): NewCondition | undefined {
  const route = result.objects.find((o) => o.kind === 'HTTPRoute' && o.metadata.namespace === result.resource?.metadata.namespace);
  if (!route) return undefined;
  const live = deps.children.get('HTTPRoute')?.get(objectKey(route.metadata.namespace, route.metadata.name));
  const gw = deps.config().gateway;
  const parent = (live?.status?.parents ?? []).find((p: any) => p.parentRef?.name === gw.name && (p.parentRef?.namespace ?? route.metadata.namespace) === gw.namespace);
  const accepted = parent?.conditions?.find((c: Condition) => c.type === 'Accepted');
  if (!accepted) return condition('RouteAccepted', 'Unknown', Reasons.Pending, `waiting for the controller of Gateway ${gw.namespace}/${gw.name}`);
  return { type: 'RouteAccepted', status: accepted.status, reason: accepted.reason || Reasons.Accepted, message: accepted.message ?? '' };
}

/** Ready=False reasons that need a person, and so an Event; waiting for pods to start is not one. */
const FAILURE_REASONS: ReadonlySet<string> = new Set([
  Reasons.InvalidSpec, Reasons.ApplyFailed, Reasons.PruneFailed, Reasons.NameConflict,
  Reasons.ModelAPINotFound, Reasons.MCPServerNotFound, Reasons.ClientPoolNotFound,
]);

function capacityCondition(state: WeightState): NewCondition {
  switch (state) {
    case 'Available': return condition('CapacityAvailable', true, Reasons.CapacityAvailable, 'route weights follow free capacity');
    case 'CapacityExhausted': return condition('CapacityAvailable', false, Reasons.CapacityExhausted, 'no pool has free capacity; weights follow ready replicas');
    case 'NoReadyBackends': return condition('CapacityAvailable', false, Reasons.NoReadyBackends, 'no pool has a ready endpoint; every weight is 0');
  }
}

async function finish(deps: Deps, cr: KubeObject, conditions: NewCondition[], extra: Partial<ResourceStatus> = {}): Promise<number> {
  const prev: Condition[] | undefined = cr.status?.conditions;
  const ready = conditions.find((c) => c.type === 'Ready');
  const prevReady = prev?.find((c) => c.type === 'Ready');
  const failed = ready && ready.status === 'False' && FAILURE_REASONS.has(ready.reason);
  if (failed && (prevReady?.status !== 'False' || prevReady.reason !== ready.reason || prevReady.message !== ready.message)) {
    await deps.events.warn(cr, ready!.reason, ready!.message);
  }
  const status: ResourceStatus = {
    observedGeneration: cr.metadata.generation,
    conditions: mergeConditions(prev, conditions, cr.metadata.generation, deps.clock()),
    ...extra,
  };
  return (await writeStatus(deps.client, cr, status)) ? 1 : 0;
}


/** Step 1's answer: what to apply, or why nothing can be. */
type Desired =
  | { readonly ok: true; readonly result: RenderResult; readonly objects: readonly KubeObject[] }
  | { readonly ok: false; readonly failure: Failure };

/** Step 1: the objects this CR should have, rendered once, with the weights its pools have now. */
function desiredState(key: string, cr: KubeObject, deps: Deps): Desired {
  const resource = cr as AgentwayResource;
  const missing = missingReference(resource, deps);
  if (missing) return { ok: false, failure: { ...missing, detail: missing.message, retry: NO_RETRY, report: true } };
  const ns = cr.metadata.namespace;
  const clientPool = resource.kind === 'ClientInstance'
    ? deps.crs.get('ClientPool')?.get(objectKey(ns, resource.spec.pool)) as ClientPool | undefined
    : undefined;
  const result = render(cr, { config: deps.config(), clientPool, weights: deps.capacity?.weightsFor(key) });
  if (result.errors.length > 0) {
    const message = result.errors.map((e) => `${e.path}: ${e.message}`).join('; ');
    return { ok: false, failure: { reason: Reasons.InvalidSpec, message, detail: message, retry: NO_RETRY, report: true } };
  }
  return { ok: true, result, objects: result.objects.map((o) => withOwnership(o, cr)) };
}

interface Applied extends Pick<ApplyResult, 'live' | 'notApplied'> {
  readonly writes: number;
  readonly failure?: Failure;
}

/**
 * Step 2: applies what differs, then prunes what is no longer rendered. Prune runs only after every apply
 * succeeded: an object that failed to apply is missing from the cache, and pruning could delete something
 * still wanted.
 */
async function applyAndPrune(key: string, cr: KubeObject, objects: readonly KubeObject[], deps: Deps): Promise<Applied> {
  const applied = await applyObjects(deps.client, cr, objects, deps.children);
  if (applied.conflict && deps.conflicts) {
    let waiting = deps.conflicts.get(applied.conflict);
    if (!waiting) deps.conflicts.set(applied.conflict, (waiting = new Set()));
    waiting.add(key);
  }
  if (applied.failure) return { writes: applied.written, live: applied.live, notApplied: applied.notApplied, failure: applied.failure };
  const pruned = await pruneOrphans(deps.client, cr.metadata.uid!, applied.desiredKeys, deps.children.values());
  return { writes: applied.written + pruned.deleted, live: applied.live, notApplied: [], failure: pruned.failure };
}

function failedCondition(failure: Failure, applied?: Applied): NewCondition {
  let message = failure.message;
  if (applied) {
    message += `; live: ${applied.live.length > 0 ? applied.live.join(', ') : 'none'}`;
    if (applied.notApplied.length > 0) message += `; not applied: ${applied.notApplied.join(', ')}`;
  }
  return condition('Ready', false, failure.reason, message);
}

/** The retry an Outcome asks for when waiting may fix `failure`; undefined when it cannot. */
function retryOf(failure: Failure | undefined): Outcome['retry'] {
  return failure?.retry.kind === 'backoff' ? { detail: failure.detail, maxDelayMs: failure.retry.maxDelayMs } : undefined;
}

/**
 * Writes the status if it changed and says what came of the reconcile: `retry` stands, and a status write
 * that failed is retried too when waiting may fix it.
 */
async function statusOutcome(
  deps: Deps, cr: KubeObject, conditions: NewCondition[], extra: Partial<ResourceStatus>, writes: number, retry: Outcome['retry'],
): Promise<Outcome> {
  try {
    return { writes: writes + await finish(deps, cr, conditions, extra), retry };
  } catch (err) {
    return { writes, retry: retry ?? retryOf(failureOf(Reasons.StatusFailed, 'writing status', err)) };
  }
}

/** Step 3: the status that reports the outcome, written only if it changed. */
async function reportStatus(key: string, cr: KubeObject, desired: Desired, applied: Applied | undefined, deps: Deps): Promise<Outcome> {
  const failure = desired.ok ? applied?.failure : desired.failure;
  const writes = applied?.writes ?? 0;
  const retry = retryOf(failure);
  // A transient failure retries without touching the status: it would only flap.
  if (failure && !failure.report) return { writes, retry };

  let conditions: NewCondition[];
  let extra: Partial<ResourceStatus> = {};
  if (failure) {
    conditions = [failedCondition(failure, desired.ok ? applied : undefined)];
    const routeLive = desired.ok && desired.result.endpoint
      && applied?.live.some((o) => o.startsWith('HTTPRoute '));
    if (routeLive && desired.ok) extra = { endpoint: desired.result.endpoint };
  } else {
    const { result } = desired as Extract<Desired, { ok: true }>;
    const config = deps.config();
    conditions = [readyCondition(result, deps, cr.metadata.namespace!)];
    const routeAccepted = routeAcceptedCondition(result, deps);
    if (routeAccepted) conditions.push(routeAccepted);
    if (!config.gateway.requestTimeouts && routeAccepted) {
      conditions.push(condition('RouteTimeouts', false, Reasons.TimeoutsUnsupported,
        `GatewayClass of ${config.gateway.namespace}/${config.gateway.name} does not support HTTPRouteRequestTimeout; the route has no timeout`));
    }
    const capacity = result.endpoint ? deps.capacity?.snapshot(key) : undefined;
    if (capacity) conditions.push(capacityCondition(capacity.state));
    extra = {
      ...(result.endpoint ? { endpoint: result.endpoint } : {}),
      ...(capacity ? { pools: capacity.pools } : {}),
    };
  }
  return statusOutcome(deps, cr, conditions, extra, writes, retry);
}

/**
 * What a CR that is gone leaves behind that garbage collection cannot remove: the route server's
 * ReferenceGrant for its namespace, once the namespace's last ClientPool is gone.
 */
async function releaseShared(kind: Kind, namespace: string, deps: Deps): Promise<Outcome> {
  if (kind !== 'ClientPool') return { writes: 0 };
  const pools = deps.crs.get('ClientPool')?.list() ?? [];
  if (pools.some((p) => p.metadata.namespace === namespace && !p.metadata.deletionTimestamp)) return { writes: 0 };
  const grants = deps.children.get('ReferenceGrant');
  const grant = grants?.get(objectKey(deps.config().routeServer.namespace, routeServerGrantName(namespace)));
  if (!grants || !grant) return { writes: 0 };
  try {
    return { writes: (await deleteIfUnchanged(deps.client, grants.type, grant)) ? 1 : 0 };
  } catch (err) {
    const f = failureOf(Reasons.PruneFailed, `deleting ReferenceGrant ${grant.metadata.name}`, err);
    return { writes: 0, retry: { detail: f.detail, maxDelayMs: f.retry.kind === 'backoff' ? f.retry.maxDelayMs : undefined } };
  }
}

/** An Outcome that retries `failure` when it says waiting can help, and logs it when it cannot. */
function outcomeOf(writes: number, failure: Failure | undefined, deps: Deps, key: string): Outcome {
  if (!failure) return { writes };
  const retry = retryOf(failure);
  if (retry) return { writes, retry };
  deps.log.error({ key, err: failure.detail }, 'not retried until the object changes');
  return { writes };
}

/**
 * A ModelAccess: applies the Role and RoleBinding that let the model router read its key Secret, owned by
 * the ModelAccess so that they go with it, and reports on Ready whether that access is in place: an invalid
 * spec (a missing or malformed spec.apiKeys.secretRef among others) or a refused apply is Ready=False with
 * its reason. Whether the Secret exists is not checked: the controller never reads a Secret.
 */
async function reconcileModelAccess(key: string, namespace: string, name: string, deps: Deps): Promise<Outcome> {
  const cr = deps.modelAccesses?.get(objectKey(namespace, name));
  if (!cr || cr.metadata.deletionTimestamp) return { writes: 0 };
  const { resource, errors } = validateModelAccess(cr);
  if (!resource) {
    const message = errors.map((e) => `${e.path}: ${e.message}`).join('; ');
    return accessStatus(cr, 0, { reason: Reasons.InvalidSpec, message, detail: message, retry: NO_RETRY, report: true }, '', deps);
  }
  const objects = modelAccessGrant(resource, deps.config()).map((o) => withOwnership(o, cr));
  const applied = await applyAndPrune(key, cr, objects, deps);
  if (applied.failure && !applied.failure.report) return outcomeOf(applied.writes, applied.failure, deps, key);
  return accessStatus(cr, applied.writes, applied.failure, resource.spec.apiKeys.secretRef.name, deps, applied);
}

/** The Ready condition of a ModelAccess, written if it changed; a failure that waiting can fix is retried too. */
async function accessStatus(cr: KubeObject, writes: number, failure: Failure | undefined, secret: string, deps: Deps, applied?: Applied): Promise<Outcome> {
  const ready = failure
    ? failedCondition(failure, applied)
    : condition('Ready', true, Reasons.Ready, `the model router may read Secret "${secret}"`);
  const retry = retryOf(failure);
  if (failure && !retry) deps.log.warn({ modelAccess: objectKey(cr.metadata.namespace, cr.metadata.name), err: failure.detail }, 'ModelAccess not ready');
  return statusOutcome(deps, cr, [ready], {}, writes, retry);
}

export async function reconcile(key: string, deps: Deps): Promise<Outcome> {
  const { kind, namespace, name } = parseQueueKey(key);
  if ((kind as string) === MODEL_ACCESS_INFO.kind) return reconcileModelAccess(key, namespace, name, deps);
  const cr = deps.crs.get(kind)?.get(objectKey(namespace, name));
  // Deleted, or being deleted: the ownerReferences let the garbage collector remove the children.
  if (!cr || cr.metadata.deletionTimestamp) return releaseShared(kind, namespace, deps);

  const desired = desiredState(key, cr, deps);
  const applied = desired.ok ? await applyAndPrune(key, cr, desired.objects, deps) : undefined;
  return reportStatus(key, cr, desired, applied, deps);
}

/** Queue keys of CRs waiting for `obj` (by its `Kind/namespace/name`) to go; forgotten once returned. */
export function takeWaiting(conflicts: Map<string, Set<string>>, obj: { kind?: string; metadata: { namespace?: string; name: string } }): string[] {
  const k = typedKey(obj);
  const waiting = conflicts.get(k);
  conflicts.delete(k);
  return waiting ? [...waiting] : [];
}
