/**
 * Per-request endpoint choice (DESIGN §8): among the ready endpoints of the candidates, the most free
 * capacity net of this replica's in-flight requests; least in-flight when capacity is exhausted; none when
 * nothing is ready. Pure: in-flight counts, the rotation and the random draw come from the caller.
 */
import { ModelRouteStrategy } from '../../manifests/api.js';

/** A ready endpoint of one backend. */
export interface Endpoint {
  /** `host:port`. */
  readonly address: string;
  /** Backend key it belongs to (a ModelAPI's `namespace/name`, or a Service target's key). */
  readonly backend: string;
  /** Whether its pool has accelerators. */
  readonly gpu: boolean;
  /** Free capacity (§4): accelerators of a ready replica, or what its capacity endpoint reported. */
  readonly capacity: number;
}

/** A target of the resolution with its ready endpoints. */
export interface TargetEndpoints {
  readonly backend: string;
  readonly weight: number;
  readonly priority: number;
  readonly endpoints: readonly Endpoint[];
}

export interface Choice {
  readonly endpoint: Endpoint;
  /** Whether the choice fell back to least in-flight because no endpoint had capacity left. */
  readonly degraded: boolean;
}

export interface ChoiceInput {
  readonly strategy: ModelRouteStrategy;
  readonly targets: readonly TargetEndpoints[];
  /** Only accelerator endpoints may serve. */
  readonly gpuOnly: boolean;
  /** Requests this replica has in flight to an address. */
  readonly inFlight: (address: string) => number;
  /** Any integer that changes between requests: breaks ties in turn, so equal endpoints share the load. */
  readonly rotation: number;
  /** A number in [0, 1) for the weighted strategy. */
  readonly random: number;
}

/** The endpoints a strategy lets serve: all of them, the best priority that has any, or one weighted target. */
function eligible(input: ChoiceInput): Endpoint[] {
  const usable = input.targets
    .map((t) => ({ ...t, endpoints: t.endpoints.filter((e) => !input.gpuOnly || e.gpu) }))
    .filter((t) => t.endpoints.length > 0);
  if (usable.length === 0) return [];
  if (input.strategy === 'priority') {
    const best = Math.min(...usable.map((t) => t.priority));
    return usable.filter((t) => t.priority === best).flatMap((t) => t.endpoints);
  }
  if (input.strategy === 'weighted') {
    const total = usable.reduce((s, t) => s + Math.max(0, t.weight), 0);
    if (total <= 0) return usable.flatMap((t) => t.endpoints);
    let draw = input.random * total;
    for (const t of usable) {
      draw -= Math.max(0, t.weight);
      if (draw < 0) return [...t.endpoints];
    }
    return [...usable[usable.length - 1].endpoints];
  }
  return usable.flatMap((t) => t.endpoints);
}

/** The best of `items` by `score` (higher wins); ties are taken in turn by `rotation`. */
function best<T>(items: readonly T[], score: (t: T) => number, rotation: number): T {
  let top = -Infinity;
  let tied: T[] = [];
  for (const item of items) {
    const s = score(item);
    if (s > top) { top = s; tied = [item]; } else if (s === top) tied.push(item);
  }
  return tied[((rotation % tied.length) + tied.length) % tied.length];
}

/** The endpoint for one request, or undefined when no candidate has a ready endpoint (503). */
export function chooseEndpoint(input: ChoiceInput): Choice | undefined {
  const endpoints = eligible(input);
  if (endpoints.length === 0) return undefined;
  const free = (e: Endpoint) => e.capacity - input.inFlight(e.address);
  const withRoom = endpoints.filter((e) => free(e) > 0);
  if (withRoom.length > 0) return { endpoint: best(withRoom, free, input.rotation), degraded: false };
  return { endpoint: best(endpoints, (e) => -input.inFlight(e.address), input.rotation), degraded: true };
}
