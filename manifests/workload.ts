/**
 * One pool of a workload: its Deployment and its ClusterIP Service. Built from the typed k8s L1 objects so
 * that every field in the output is one we chose (cdk8s-plus would add replicas, resource limits, pull
 * policy and a read-only root FS of its own).
 */
import { Construct } from 'constructs';
import { type K8s, k8s } from '../imports/k8s.js';
import { EnvVar, Resources, Toleration } from './api.js';

export interface WorkloadPoolProps {
  /** Namespace of the Deployment and Service. */
  readonly namespace: string;
  /** Name of the Deployment and the Service. */
  readonly name: string;
  /** Labels on both objects and on the pods. */
  readonly labels: Readonly<Record<string, string>>;
  /** Pod labels the Deployment and the Service select by; a subset of `labels`. */
  readonly selector: Readonly<Record<string, string>>;
  /** Container image. */
  readonly image: string;
  /** Container name. */
  readonly containerName: string;
  /**
   * Entrypoint override.
   * @default the image's entrypoint
   */
  readonly command?: readonly string[];
  /**
   * Arguments.
   * @default the image's arguments
   */
  readonly args?: readonly string[];
  /**
   * Environment variables, in order.
   * @default none
   */
  readonly env?: readonly EnvVar[];
  /** Container port, also the Service port. */
  readonly port: number;
  /** Pods to run. */
  readonly replicas: number;
  /**
   * CPU and memory requests (memory also as limit) and accelerators (limit = request).
   * @default no requests or limits
   */
  readonly resources?: Resources;
  /**
   * Node labels the pods are scheduled on.
   * @default any node
   */
  readonly nodeSelector?: Readonly<Record<string, string>>;
  /**
   * Tolerations, before the accelerator toleration.
   * @default only the accelerator toleration, if any
   */
  readonly tolerations?: readonly Toleration[];
  /**
   * Path of HTTP readiness, liveness and startup probes on `port`.
   * @default no probes
   */
  readonly healthPath?: string;
}

const PORT_NAME = 'http';
const DEFAULT_GPU_RESOURCE = 'nvidia.com/gpu';

function quantity(value: string | number): K8s.Quantity {
  return k8s.Quantity.fromString(String(value));
}

function resourceRequirements(r: Resources | undefined): K8s.ResourceRequirements | undefined {
  if (!r) return undefined;
  const requests: Record<string, K8s.Quantity> = {};
  const limits: Record<string, K8s.Quantity> = {};
  if (r.cpu !== undefined) requests.cpu = quantity(r.cpu);
  if (r.memory !== undefined) requests.memory = limits.memory = quantity(r.memory);
  const gpu = r.gpu ?? 0;
  if (gpu > 0) requests[r.gpuResource ?? DEFAULT_GPU_RESOURCE] = limits[r.gpuResource ?? DEFAULT_GPU_RESOURCE] = quantity(gpu);
  const nonEmpty = (m: Record<string, K8s.Quantity>) => (Object.keys(m).length > 0 ? m : undefined);
  if (!nonEmpty(requests) && !nonEmpty(limits)) return undefined;
  return { requests: nonEmpty(requests), limits: nonEmpty(limits) };
}

function tolerations(props: WorkloadPoolProps): K8s.Toleration[] | undefined {
  const gpu = props.resources?.gpu ?? 0;
  // Copied into fresh plain objects: cdk8s rewrites any object that is not a plain Object of this realm and
  // has a string `value` to `{value}` alone, which would drop a toleration's key, operator and effect.
  const all: K8s.Toleration[] = (props.tolerations ?? []).map((t) => ({ ...t }));
  if (gpu > 0) all.push({ key: props.resources?.gpuResource ?? DEFAULT_GPU_RESOURCE, operator: 'Exists', effect: 'NoSchedule' });
  return all.length > 0 ? all : undefined;
}

function probe(path: string, periodSeconds: number, failureThreshold: number): K8s.Probe {
  return {
    httpGet: { path, port: k8s.IntOrString.fromString(PORT_NAME), scheme: 'HTTP' },
    periodSeconds, failureThreshold, timeoutSeconds: 1, successThreshold: 1,
  };
}

export class WorkloadPool extends Construct {
  public readonly deployment: K8s.KubeDeployment;
  public readonly service: K8s.KubeService;

  public constructor(scope: Construct, id: string, props: WorkloadPoolProps) {
    super(scope, id);
    const metadata = { name: props.name, namespace: props.namespace, labels: { ...props.labels } };
    const health = props.healthPath;

    this.deployment = new k8s.KubeDeployment(this, 'deployment', {
      metadata,
      spec: {
        replicas: props.replicas,
        selector: { matchLabels: { ...props.selector } },
        template: {
          metadata: { labels: { ...props.labels } },
          spec: {
            automountServiceAccountToken: false,
            enableServiceLinks: false,
            securityContext: { runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } },
            nodeSelector: props.nodeSelector ? { ...props.nodeSelector } : undefined,
            tolerations: tolerations(props),
            containers: [{
              name: props.containerName,
              image: props.image,
              imagePullPolicy: 'IfNotPresent',
              command: props.command ? [...props.command] : undefined,
              args: props.args ? [...props.args] : undefined,
              env: props.env && props.env.length > 0 ? props.env.map((e) => ({ ...e })) : undefined,
              ports: [{ name: PORT_NAME, containerPort: props.port, protocol: 'TCP' }],
              resources: resourceRequirements(props.resources),
              securityContext: {
                allowPrivilegeEscalation: false,
                runAsNonRoot: true,
                capabilities: { drop: ['ALL'] },
                seccompProfile: { type: 'RuntimeDefault' },
              },
              // Model servers load weights for minutes: the startup probe holds liveness off for up to 10 min.
              startupProbe: health ? probe(health, 10, 60) : undefined,
              readinessProbe: health ? probe(health, 5, 3) : undefined,
              livenessProbe: health ? probe(health, 10, 6) : undefined,
            }],
          },
        },
      },
    });

    this.service = new k8s.KubeService(this, 'service', {
      metadata,
      spec: {
        type: 'ClusterIP',
        selector: { ...props.selector },
        ports: [{ name: PORT_NAME, port: props.port, targetPort: k8s.IntOrString.fromString(PORT_NAME), protocol: 'TCP' }],
      },
    });
  }
}
