/** A Deployment of the agentway image itself (controller, route server, model router) and its labels. */
import { Construct } from 'constructs';
import { type K8s, k8s } from '../imports/k8s.js';
import { LABELS, MANAGED_BY } from './names.js';

export const selectorOf = (component: string) => ({ [LABELS.name]: 'agentway', [LABELS.component]: component });
export const labelsOf = (component: string) => ({ ...selectorOf(component), [LABELS.managedBy]: MANAGED_BY });

/** Memory limit (MiB) of an installed agentway container, unless its Deployment is given another. */
export const INSTALLED_MEMORY_LIMIT_MIB = 512;

/**
 * What a node process of ours holds outside V8's old space, MiB: loaded code and its compiled form (from 40 to
 * ~150 MiB RSS before it holds anything, most of it `@kubernetes/client-node`, cdk8s and the generated
 * Kubernetes types), the young generation (up to 48 MiB), buffers.
 */
const NON_HEAP_MIB = 192;

/**
 * The V8 old-space limit for a container memory limit: without one, V8 grows its heap towards its own
 * default (a quarter of the node's memory or more) and the container is killed before it collects.
 */
export function heapLimitMiB(memoryLimitMiB: number): number {
  return Math.max(64, memoryLimitMiB - NON_HEAP_MIB);
}

/**
 * What a process favours where V8 trades one for the other: `latency` for the data plane (route server, model
 * router), `footprint` for the controller, whose memory grows with the CRs it caches and whose work waits on
 * the API server anyway: V8's `--optimize-for-size` keeps a small young generation and collects sooner (about
 * 40 MiB less RSS idle).
 */
export type MemoryProfile = 'latency' | 'footprint';

/**
 * The `NODE_OPTIONS` of a container with this memory limit. (A larger young generation for the data plane,
 * `--min-semi-space-size=16`, made a tenth as many collections but raised the router's cache-hit p50 from 0.12
 * to 0.2 ms and its RSS after load from 100 to 143 MiB, with no p99 gain beyond the noise: V8's own sizing stays.)
 */
export function nodeOptionsFor(memoryLimitMiB: number, profile: MemoryProfile = 'latency'): string {
  const heap = `--max-old-space-size=${heapLimitMiB(memoryLimitMiB)}`;
  return profile === 'footprint' ? `${heap} --optimize-for-size` : heap;
}

/**
 * glibc's malloc keeps freed memory for reuse up to its trim threshold, which grows to 32 MiB with the
 * allocations a process makes; node's compiler and parser free tens of MiB after start-up that then stay
 * resident. A fixed 128 KiB threshold gives them back (about 25 MiB less RSS idle).
 */
export const MALLOC_TUNABLES = 'glibc.malloc.trim_threshold=131072';

/** Node flags an installed data-plane container runs with by default (its `NODE_OPTIONS`). */
export const INSTALLED_NODE_OPTIONS = nodeOptionsFor(INSTALLED_MEMORY_LIMIT_MIB);
/** Node flags the installed controller runs with by default. */
export const CONTROLLER_NODE_OPTIONS = nodeOptionsFor(INSTALLED_MEMORY_LIMIT_MIB, 'footprint');
/** The environment every installed agentway container gets besides NODE_OPTIONS. */
export const INSTALLED_ENV: Readonly<Record<string, string>> = { GLIBC_TUNABLES: MALLOC_TUNABLES };

export interface ServerDeploymentProps {
  readonly namespace: string;
  readonly name: string;
  readonly component: string;
  readonly image: string;
  readonly replicas: number;
  readonly args: string[];
  readonly ports: K8s.ContainerPort[];
  readonly liveness: K8s.Probe;
  readonly readiness: K8s.Probe;
  /**
   * Memory limit of the container, MiB; its V8 heap limit follows from it.
   * @default INSTALLED_MEMORY_LIMIT_MIB
   */
  readonly memoryLimitMiB?: number;
  /** @default 'latency' */
  readonly memoryProfile?: MemoryProfile;
}

/** A Deployment of the agentway image itself, locked down: non-root, read-only root FS, no capabilities. */
export class ServerDeployment extends Construct {
  public constructor(scope: Construct, id: string, props: ServerDeploymentProps) {
    super(scope, id);
    const memoryLimitMiB = props.memoryLimitMiB ?? INSTALLED_MEMORY_LIMIT_MIB;
    new k8s.KubeDeployment(this, 'deployment', {
      metadata: { name: props.name, namespace: props.namespace, labels: labelsOf(props.component) },
      spec: {
        replicas: props.replicas,
        selector: { matchLabels: selectorOf(props.component) },
        template: {
          metadata: { labels: labelsOf(props.component) },
          spec: {
            serviceAccountName: props.name,
            securityContext: { runAsNonRoot: true, runAsUser: 65532, seccompProfile: { type: 'RuntimeDefault' } },
            containers: [{
              name: props.component,
              image: props.image,
              imagePullPolicy: 'IfNotPresent',
              args: props.args,
              env: [
                { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
                // V8 would otherwise grow the heap towards its default limit, far past the memory limit below.
                { name: 'NODE_OPTIONS', value: nodeOptionsFor(memoryLimitMiB, props.memoryProfile) },
                ...Object.entries(INSTALLED_ENV).map(([name, value]) => ({ name, value })),
              ],
              ports: props.ports,
              livenessProbe: props.liveness,
              readinessProbe: props.readiness,
              resources: {
                requests: { cpu: k8s.Quantity.fromString('100m'), memory: k8s.Quantity.fromString('128Mi') },
                limits: { memory: k8s.Quantity.fromString(`${memoryLimitMiB}Mi`) },
              },
              securityContext: {
                allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, runAsNonRoot: true,
                capabilities: { drop: ['ALL'] }, seccompProfile: { type: 'RuntimeDefault' },
              },
            }],
          },
        },
      },
    });
  }
}
