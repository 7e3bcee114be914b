/**
 * What a request asks for and who can serve it (DESIGN §8), as pure functions of the request and of the
 * ModelAPIs and ModelRoutes the router knows: no I/O, no clock, no randomness (callers pass those in).
 */
import { ModelRouteStrategy } from '../../manifests/api.js';

/** Body fields that only steer routing; they are removed before the body is forwarded. */
export const ROUTING_FIELDS = ['owned_by', 'engine', 'inference_server'] as const;
export const MODEL_HEADER = 'x-agentway-model';
export const OWNED_BY_HEADER = 'x-owned-by';
export const ACCELERATOR_HEADER = 'x-agentway-accelerator';

/** What a request asks for. */
export interface RoutingAsk {
  readonly model?: string;
  /** The engine asked for, as given (compare with `sameEngine`). */
  readonly ownedBy?: string;
  /** Whether only accelerator pools may serve it (`x-agentway-accelerator: gpu`). */
  readonly gpu: boolean;
}

type Headers = Readonly<Record<string, string | string[] | undefined>>;

const text = (v: unknown): string | undefined => (typeof v === 'string' && v.trim() !== '' ? v.trim() : undefined);
const header = (h: Headers, name: string): string | undefined => text(Array.isArray(h[name]) ? h[name]![0] : h[name]);

/** Engines are free text compared case-insensitively: `vLLM` is `vllm`. */
export function sameEngine(a: string | undefined, b: string | undefined): boolean {
  return a !== undefined && b !== undefined && a.toLowerCase() === b.toLowerCase();
}

/**
 * Reads model and engine from a request: `model` from the body, else header `x-agentway-model`; the engine
 * from header `x-owned-by`, else query `owned_by`, else body `owned_by`, `engine`, `inference_server`.
 * Returns the body to forward, without the routing-only fields (the input is not modified).
 */
export function routingAsk(headers: Headers, query: URLSearchParams, body: Readonly<Record<string, unknown>>): { ask: RoutingAsk; forward: Record<string, unknown> } {
  const model = text(body.model) ?? header(headers, MODEL_HEADER);
  const ownedBy = header(headers, OWNED_BY_HEADER) ?? text(query.get('owned_by')) ?? text(body.owned_by) ?? text(body.engine) ?? text(body.inference_server);
  const forward: Record<string, unknown> = { ...body };
  for (const f of ROUTING_FIELDS) delete forward[f];
  return { ask: { model, ownedBy, gpu: header(headers, ACCELERATOR_HEADER)?.toLowerCase() === 'gpu' }, forward };
}

/** A model one backend serves, and the engine serving it. */
export interface ServedModel {
  readonly id: string;
  readonly engine?: string;
}

/** A ModelAPI as routing sees it. */
export interface ModelBackendInfo {
  /** `namespace/name`. */
  readonly key: string;
  /** Declared models (with the ModelAPI's ownedBy) followed by discovered ones. */
  readonly models: readonly ServedModel[];
  /** Seconds since the epoch the ModelAPI was created (for `/v1/models`). */
  readonly created: number;
}

export interface RouteTargetInfo {
  /** Backend key: `namespace/name` of a ModelAPI, or `namespace/service/name:port` of a Service. */
  readonly backend: string;
  /** Model id sent upstream instead of the one asked for. */
  readonly model?: string;
  readonly weight: number;
  readonly priority: number;
}

/** A ModelRoute as routing sees it. */
export interface RouteInfo {
  /** `namespace/name`. */
  readonly key: string;
  readonly model: string;
  readonly ownedBy?: string;
  readonly strategy: ModelRouteStrategy;
  readonly targets: readonly RouteTargetInfo[];
}

/** Where a request may go: targets in the strategy's terms, each with the model id to send upstream. */
export interface Candidates {
  readonly ok: true;
  /** The ModelRoute that decided, if one did. */
  readonly route?: string;
  readonly strategy: ModelRouteStrategy;
  readonly targets: readonly (RouteTargetInfo & { readonly model: string })[];
}

/** A request no backend can take, as an OpenAI-shaped error. */
export interface Refusal {
  readonly ok: false;
  readonly status: number;
  readonly type: string;
  readonly code: string;
  readonly message: string;
}

export type Resolution = Candidates | Refusal;

const byKey = <T extends { key: string }>(a: T, b: T) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0);

/** The engine serving `model` on a backend: the ModelAPI's ownedBy, else what discovery reported. */
export function engineOf(backend: ModelBackendInfo, model: string): string | undefined {
  return backend.models.find((m) => m.id === model && m.engine !== undefined)?.engine;
}

function serves(backend: ModelBackendInfo, model: string): boolean {
  return backend.models.some((m) => m.id === model);
}

/**
 * Who may serve a request. ModelRoutes win over what ModelAPIs declare: one with `ownedBy` applies to the
 * requests naming that engine, one without to every request for its model, and the more specific one
 * wins (ties go to the first by namespace/name, so every replica decides alike).
 */
export function resolve(ask: RoutingAsk, backends: readonly ModelBackendInfo[], routes: readonly RouteInfo[]): Resolution {
  const model = ask.model;
  if (model === undefined) {
    return { ok: false, status: 400, type: 'invalid_request_error', code: 'model_required', message: 'you must provide a model parameter' };
  }
  const matching = routes.filter((r) => r.model === model && (r.ownedBy === undefined || sameEngine(r.ownedBy, ask.ownedBy)));
  const route = [...matching.filter((r) => r.ownedBy !== undefined).sort(byKey), ...matching.filter((r) => r.ownedBy === undefined).sort(byKey)][0];
  if (route) {
    return { ok: true, route: route.key, strategy: route.strategy, targets: route.targets.map((t) => ({ ...t, model: t.model ?? model })) };
  }
  const serving = backends.filter((b) => serves(b, model)).sort(byKey);
  const routed = routes.filter((r) => r.model === model);
  if (serving.length === 0 && routed.length === 0) {
    return { ok: false, status: 404, type: 'invalid_request_error', code: 'model_not_found', message: `The model \`${model}\` does not exist.` };
  }
  const chosen = ask.ownedBy === undefined ? serving : serving.filter((b) => sameEngine(engineOf(b, model), ask.ownedBy));
  if (chosen.length === 0) {
    const engines = [...new Set([
      ...serving.map((b) => engineOf(b, model)),
      ...routed.map((r) => r.ownedBy),
    ].filter((e): e is string => e !== undefined).map((e) => e.toLowerCase()))].sort();
    return {
      ok: false, status: 404, type: 'invalid_request_error', code: 'engine_not_found',
      message: `The model \`${model}\` is not served by engine \`${ask.ownedBy}\`; engines serving it: ${engines.length > 0 ? engines.join(', ') : 'none named'}.`,
    };
  }
  return { ok: true, strategy: 'capacity', targets: chosen.map((b) => ({ backend: b.key, model, weight: 1, priority: 0 })) };
}

/** One entry of `GET /v1/models`. */
export interface ModelEntry {
  readonly id: string;
  readonly object: 'model';
  readonly created: number;
  readonly owned_by: string;
}

/**
 * `GET /v1/models`: one entry per (model, engine) across declared and discovered models and ModelRoutes,
 * sorted by id then engine. A model whose engine nobody named is listed as owned by "unknown".
 */
export function modelList(backends: readonly ModelBackendInfo[], routes: readonly RouteInfo[]): { object: 'list'; data: ModelEntry[] } {
  const entries = new Map<string, ModelEntry>();
  const add = (id: string, engine: string | undefined, created: number) => {
    const owned = engine ?? 'unknown';
    const key = `${id}\u0000${owned.toLowerCase()}`;
    const old = entries.get(key);
    if (!old || created < old.created) entries.set(key, { id, object: 'model', created, owned_by: owned });
  };
  for (const b of backends) {
    const ids = new Set(b.models.map((m) => m.id));
    for (const id of ids) add(id, engineOf(b, id), b.created);
  }
  const byBackend = new Map(backends.map((b) => [b.key, b]));
  for (const r of routes) {
    const engines = r.ownedBy !== undefined ? [r.ownedBy]
      : r.targets.map((t) => { const b = byBackend.get(t.backend); return b && engineOf(b, t.model ?? r.model); });
    const created = Math.min(...r.targets.map((t) => byBackend.get(t.backend)?.created ?? 0));
    for (const e of new Set(engines)) add(r.model, e, created);
  }
  const data = [...entries.values()].sort((a, b) => (a.id !== b.id ? (a.id < b.id ? -1 : 1) : a.owned_by < b.owned_by ? -1 : a.owned_by > b.owned_by ? 1 : 0));
  return { object: 'list', data };
}
