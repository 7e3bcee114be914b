/** A Deployment of the agentway image itself (controller, route server, model router) and its labels. */
import { Construct } from 'constructs';
import { k8s } from '../imports/k8s.js';
import { LABELS, MANAGED_BY } from './names.js';

export const selectorOf = (component: string) => ({ [LABELS.name]: 'agentway', [LABELS.component]: component });
export const labelsOf = (component: string) => ({ ...selectorOf(component), [LABELS.managedBy]: MANAGED_BY });

/** Node flags every installed agentway container runs with (its `NODE_OPTIONS`): a heap limit below its memory limit. */
export const INSTALLED_NODE_OPTIONS = '--max-old-space-size=320';

export interface ServerDeploymentProps {
  readonly namespace: string;
  readonly name: string;
  readonly component: string;
  readonly image: string;
  readonly replicas: number;
  readonly args: string[];
  readonly ports: k8s.ContainerPort[];
  readonly liveness: k8s.Probe;
  readonly readiness: k8s.Probe;
}

/** A Deployment of the agentway image itself, locked down: non-root, read-only root FS, no capabilities. */
export class ServerDeployment extends Construct {
  public constructor(scope: Construct, id: string, props: ServerDeploymentProps) {
    super(scope, id);
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
                { name: 'NODE_OPTIONS', value: INSTALLED_NODE_OPTIONS },
              ],
              ports: props.ports,
              livenessProbe: props.liveness,
              readinessProbe: props.readiness,
              resources: {
                requests: { cpu: k8s.Quantity.fromString('100m'), memory: k8s.Quantity.fromString('128Mi') },
                limits: { memory: k8s.Quantity.fromString('512Mi') },
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
