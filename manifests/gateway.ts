/**
 * Shared Gateway API objects: the Gateway every route attaches to, and the ReferenceGrant that lets a
 * namespace's routes send traffic to the route server's Service in another namespace.
 */
import { ApiObject } from 'cdk8s';
import { Construct } from 'constructs';
import { Gateway, GatewaySpecListenersAllowedRoutesNamespacesFrom } from '../imports/gateway-gateway.networking.k8s.io.js';
import { ReferenceGrant } from '../imports/referencegrant-gateway.networking.k8s.io.js';

export interface AgentwayGatewayProps {
  readonly name: string;
  readonly namespace: string;
  /** GatewayClass that implements the Gateway. */
  readonly className: string;
  /** Port of the HTTP listener. */
  readonly port: number;
  readonly labels: Readonly<Record<string, string>>;
}

/** One HTTP listener that accepts routes from every namespace. */
export class AgentwayGateway extends Construct {
  public readonly gateway: Gateway;

  public constructor(scope: Construct, id: string, props: AgentwayGatewayProps) {
    super(scope, id);
    this.gateway = new Gateway(this, 'gateway', {
      metadata: { name: props.name, namespace: props.namespace, labels: { ...props.labels } },
      spec: {
        gatewayClassName: props.className,
        listeners: [{
          name: 'http',
          protocol: 'HTTP',
          port: props.port,
          allowedRoutes: { namespaces: { from: GatewaySpecListenersAllowedRoutesNamespacesFrom.ALL } },
        }],
      },
    });
  }
}

export interface RouteServerGrantProps {
  /** Namespace whose HTTPRoutes may point at the route server. */
  readonly fromNamespace: string;
  /** The route server's Service. */
  readonly service: { readonly name: string; readonly namespace: string };
  readonly labels: Readonly<Record<string, string>>;
}

/** Name of the ReferenceGrant that admits routes from `namespace` to the route server. */
export function routeServerGrantName(namespace: string): string {
  return `agentway-routes-from-${namespace}`.slice(0, 253);
}

export class RouteServerGrant extends Construct {
  public readonly grant: ReferenceGrant;

  public constructor(scope: Construct, id: string, props: RouteServerGrantProps) {
    super(scope, id);
    this.grant = new ReferenceGrant(this, 'grant', {
      metadata: { name: routeServerGrantName(props.fromNamespace), namespace: props.service.namespace, labels: { ...props.labels } },
      spec: {
        from: [{ group: 'gateway.networking.k8s.io', kind: 'HTTPRoute', namespace: props.fromNamespace }],
        to: [{ group: '', kind: 'Service', name: props.service.name }],
      },
    });
  }
}

export interface TraefikClientRoutesProps {
  /** The route server's Service; the Middleware and IngressRoute live in its namespace. */
  readonly routeServer: { readonly name: string; readonly namespace: string; readonly port: number };
  readonly entryPoints: readonly string[];
  readonly labels: Readonly<Record<string, string>>;
}

/** Response headers of the forwardAuth answer that Traefik copies onto the forwarded request. */
export const POD_HEADERS = ['X-Pod-Service', 'X-Pod-Namespace', 'X-Pod-Port'];

/**
 * For Traefik users: requests under `/api/v1/` pass the route server's forwardAuth check (which provisions
 * instances and answers 202/401/429) and then reach the route server, which forwards them to the pod.
 * Traefik's CRDs are not imported, so these are plain ApiObjects.
 */
export class TraefikClientRoutes extends Construct {
  public constructor(scope: Construct, id: string, props: TraefikClientRoutesProps) {
    super(scope, id);
    const { name, namespace, port } = props.routeServer;
    const middleware = 'agentway-forward-auth';
    new ApiObject(this, 'middleware', {
      apiVersion: 'traefik.io/v1alpha1', kind: 'Middleware',
      metadata: { name: middleware, namespace, labels: { ...props.labels } },
      spec: { forwardAuth: { address: `http://${name}.${namespace}.svc:${port}/api/route`, authResponseHeaders: [...POD_HEADERS] } },
    });
    new ApiObject(this, 'ingressroute', {
      apiVersion: 'traefik.io/v1alpha1', kind: 'IngressRoute',
      metadata: { name: 'agentway-clients', namespace, labels: { ...props.labels } },
      spec: {
        entryPoints: [...props.entryPoints],
        routes: [{
          kind: 'Rule', match: 'PathPrefix(`/api/v1/`)',
          middlewares: [{ name: middleware, namespace }],
          services: [{ name, namespace, port }],
        }],
      },
    });
  }
}
