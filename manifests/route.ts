/**
 * The HTTPRoute that puts one resource behind the Gateway: a path prefix, stripped before the request
 * reaches the backend, an optional request timeout, and one weighted backendRef per pool.
 */
import { ApiObject } from 'cdk8s';
import { Construct } from 'constructs';
import {
  HttpRoute, HttpRouteSpec, HttpRouteSpecRules, HttpRouteSpecRulesBackendRefs, HttpRouteSpecRulesFiltersType,
  HttpRouteSpecRulesFiltersUrlRewritePathType, HttpRouteSpecRulesMatchesHeadersType, HttpRouteSpecRulesMatchesPathType,
} from '../imports/httproute-gateway.networking.k8s.io.js';

export interface RouteBackend {
  /** Service name. */
  readonly service: string;
  /**
   * Namespace of the Service.
   * @default the route's namespace
   */
  readonly namespace?: string;
  /** Service port. */
  readonly port: number;
  /** Share of the traffic (Gateway API weight). */
  readonly weight: number;
  /**
   * Whether the backend has accelerators; GPU backends also get a rule of their own.
   * @default false
   */
  readonly gpu?: boolean;
}

export interface RouteProps {
  readonly namespace: string;
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  /** The Gateway the route attaches to. */
  readonly gateway: { readonly name: string; readonly namespace: string };
  /** Requests under this path prefix match; the prefix is replaced by `/`. */
  readonly pathPrefix: string;
  /**
   * Replace the matched prefix with `/` before the request reaches the backend.
   * @default true
   */
  readonly rewrite?: boolean;
  /**
   * Request timeout, e.g. `120s`.
   * @default no timeout
   */
  readonly timeout?: string;
  /**
   * Hostnames the route answers for.
   * @default all hostnames of the listener
   */
  readonly hostnames?: readonly string[];
  /** Backends, one per pool, in order. */
  readonly backends: readonly RouteBackend[];
  /**
   * Header-native rules: requests under `pathPrefix` carrying all headers of one of `headers` go straight to
   * the backends, path unchanged, skipping the model router (whose own route has no header match).
   * @default none
   */
  readonly headerMatches?: { readonly pathPrefix: string; readonly headers: readonly (readonly HeaderMatch[])[] };
}

export interface HeaderMatch {
  readonly name: string;
  readonly value: string;
}

/** Requests with this header set to `gpu` only reach pools with accelerators. */
export const ACCELERATOR_HEADER = 'x-agentway-accelerator';

function backendRef(b: RouteBackend): HttpRouteSpecRulesBackendRefs {
  // The core group is left out (the API server defaults it to ""): an empty string is a value some servers
  // mangle, and an absent field compares equal to whatever the server stores.
  return { kind: 'Service', name: b.service, namespace: b.namespace, port: b.port, weight: b.weight };
}

/**
 * An HTTPRoute of Gateway API v1. Its spec is written with the types cdk8s generated from the CRD
 * (imports/), and handed to an ApiObject as it is: the generated class would only copy every field to the
 * same name (HTTPRoute's fields are camelCase already), at about a tenth of a synth's time.
 * test/unit/route.test.ts proves both give the same object for routes of every shape.
 */
export class Route extends Construct {
  public readonly httpRoute: ApiObject;

  public constructor(scope: Construct, id: string, props: RouteProps) {
    super(scope, id);
    const rewrite = props.rewrite ?? true;
    const exact = (h: HeaderMatch) => ({ type: HttpRouteSpecRulesMatchesHeadersType.EXACT, name: h.name, value: h.value });
    const headerRule = (backends: readonly RouteBackend[], extra: readonly HeaderMatch[]): HttpRouteSpecRules => ({
      matches: props.headerMatches!.headers.map((hs) => ({
        path: { type: HttpRouteSpecRulesMatchesPathType.PATH_PREFIX, value: props.headerMatches!.pathPrefix },
        headers: [...hs, ...extra].map(exact),
      })),
      backendRefs: backends.map(backendRef),
      timeouts: props.timeout ? { request: props.timeout } : undefined,
    });
    const rule = (backends: readonly RouteBackend[], header?: string): HttpRouteSpecRules => ({
      matches: [{
        path: { type: HttpRouteSpecRulesMatchesPathType.PATH_PREFIX, value: props.pathPrefix },
        headers: header ? [{ type: HttpRouteSpecRulesMatchesHeadersType.EXACT, name: ACCELERATOR_HEADER, value: header }] : undefined,
      }],
      filters: rewrite ? [{
        type: HttpRouteSpecRulesFiltersType.URL_REWRITE,
        urlRewrite: { path: { type: HttpRouteSpecRulesFiltersUrlRewritePathType.REPLACE_PREFIX_MATCH, replacePrefixMatch: '/' } },
      }] : undefined,
      backendRefs: backends.map(backendRef),
      timeouts: props.timeout ? { request: props.timeout } : undefined,
    });
    const gpu = props.backends.filter((b) => b.gpu);
    const mixed = gpu.length > 0 && gpu.length < props.backends.length;

    const spec: HttpRouteSpec = {
      parentRefs: [{ group: 'gateway.networking.k8s.io', kind: 'Gateway', name: props.gateway.name, namespace: props.gateway.namespace }],
      hostnames: props.hostnames && props.hostnames.length > 0 ? [...props.hostnames] : undefined,
      // GPU work never lands on a CPU pool: the header rule is more specific, so it wins for its requests.
      rules: [
        ...(mixed ? [rule(props.backends), rule(gpu, 'gpu')] : [rule(props.backends)]),
        ...(props.headerMatches && props.headerMatches.headers.length > 0
          ? mixed ? [headerRule(props.backends, []), headerRule(gpu, [{ name: ACCELERATOR_HEADER, value: 'gpu' }])] : [headerRule(props.backends, [])]
          : []),
      ],
    };
    this.httpRoute = new ApiObject(this, 'httproute', {
      ...HttpRoute.GVK, metadata: { name: props.name, namespace: props.namespace, labels: { ...props.labels } }, spec,
    });
  }
}
