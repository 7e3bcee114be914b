/**
 * Shared Gateway API objects: the Gateway every route attaches to, and the ReferenceGrant that lets a
 * namespace's routes send traffic to the route server's Service in another namespace.
 */
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
