/**
 * Deployments and Services of Agent, ModelAPI and MCPServer (the WorkloadPool construct, through render).
 */
import { render } from '../../manifests/render.js';
import {
  GPU_AND_CPU_POOLS, Json, NAMESPACE, agent, containerOf, deploymentIn, env, envOf, mcpServer, modelApi, ofKind,
  serviceIn, testEnv, withoutNamespace,
} from './fixtures.js';

const objectsOf = (cr: unknown) => {
  const result = render(cr, testEnv);
  expect(result.errors).toEqual([]);
  return result.objects;
};

const KINDS = [
  { kind: 'Agent', build: agent, name: 'research', segment: 'agent' },
  { kind: 'ModelAPI', build: modelApi, name: 'llama', segment: 'modelapi' },
  { kind: 'MCPServer', build: mcpServer, name: 'search', segment: 'mcp' },
];

describe('object names', () => {
  test.each(KINDS)('a $kind without pools renders Deployment and Service {segment}-{name}', ({ build, name, segment }) => {
    const objects = objectsOf(build());
    expect(deploymentIn(objects).metadata.name).toBe(`${segment}-${name}`);
    expect(serviceIn(objects).metadata.name).toBe(`${segment}-${name}`);
  });

  test('explicit pools render a Deployment per pool named {segment}-{name}-{pool}', () => {
    const objects = objectsOf(modelApi({ pools: GPU_AND_CPU_POOLS }));
    expect(ofKind(objects, 'Deployment').map((d) => d.metadata.name)).toEqual(['modelapi-llama-a100', 'modelapi-llama-cpu']);
  });

  test('explicit pools render a Service per pool named {segment}-{name}-{pool}', () => {
    const objects = objectsOf(mcpServer({ pools: [{ name: 'east' }, { name: 'west' }] }));
    expect(ofKind(objects, 'Service').map((s) => s.metadata.name)).toEqual(['mcp-search-east', 'mcp-search-west']);
  });

  test('a single explicit pool named "default" still gets the pool suffix', () => {
    const objects = objectsOf(agent({ pools: [{ name: 'default' }] }));
    expect(deploymentIn(objects).metadata.name).toBe('agent-research-default');
  });

  test('every object lands in the namespace of the CR', () => {
    const objects = objectsOf(modelApi({ pools: GPU_AND_CPU_POOLS }, 'llama', 'ml-team'));
    expect(new Set(objects.map((o) => o.metadata.namespace))).toEqual(new Set(['ml-team']));
  });

  test('a CR without a namespace renders into "default"', () => {
    const objects = objectsOf(withoutNamespace(agent()));
    expect(new Set(objects.map((o) => o.metadata.namespace))).toEqual(new Set(['default']));
  });
});

describe('labels', () => {
  test.each(KINDS)('every object of a $kind carries name, instance, component and managed-by', ({ kind, build, name, segment }) => {
    const objects = objectsOf(build({ pools: [{ name: 'p1' }, { name: 'p2' }] }));
    for (const o of objects) {
      expect(o.metadata.labels).toMatchObject({
        'app.kubernetes.io/name': segment,
        'app.kubernetes.io/instance': `${segment}-${name}`,
        'app.kubernetes.io/component': kind,
        'app.kubernetes.io/managed-by': 'agentway',
      });
    }
  });

  test('each pool Deployment, its pod template and its Service carry the pool label', () => {
    const objects = objectsOf(modelApi({ pools: GPU_AND_CPU_POOLS }));
    for (const pool of ['a100', 'cpu']) {
      const name = `modelapi-llama-${pool}`;
      expect([
        deploymentIn(objects, name).metadata.labels['agentway.dev/pool'],
        deploymentIn(objects, name).spec.template.metadata.labels['agentway.dev/pool'],
        serviceIn(objects, name).metadata.labels['agentway.dev/pool'],
      ]).toEqual([pool, pool, pool]);
    }
  });

  test('without pools the pool label is "default"', () => {
    expect(deploymentIn(objectsOf(agent())).metadata.labels['agentway.dev/pool']).toBe('default');
  });

  test('the pod template carries every label of its Deployment', () => {
    const d = deploymentIn(objectsOf(agent()));
    expect(d.spec.template.metadata.labels).toEqual(d.metadata.labels);
  });

  test('the Deployment selects its pods by instance and pool only', () => {
    const d = deploymentIn(objectsOf(modelApi({ pools: GPU_AND_CPU_POOLS })), 'modelapi-llama-cpu');
    expect(d.spec.selector).toEqual({ matchLabels: { 'app.kubernetes.io/instance': 'modelapi-llama', 'agentway.dev/pool': 'cpu' } });
  });
});

describe('Deployment', () => {
  test('the pod runs as non-root with the RuntimeDefault seccomp profile', () => {
    const d = deploymentIn(objectsOf(agent()));
    expect(d.spec.template.spec.securityContext).toEqual({ runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
  });

  test('the container meets the restricted Pod Security profile', () => {
    expect(containerOf(deploymentIn(objectsOf(agent()))).securityContext).toEqual({
      allowPrivilegeEscalation: false,
      runAsNonRoot: true,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    });
  });

  test('the image is pulled only if not present', () => {
    expect(containerOf(deploymentIn(objectsOf(agent()))).imagePullPolicy).toBe('IfNotPresent');
  });

  test('the container runs the spec image', () => {
    expect(containerOf(deploymentIn(objectsOf(agent({ image: 'registry.example.com/a/b:3' })))).image).toBe('registry.example.com/a/b:3');
  });

  test('replicas default to 1', () => {
    expect(deploymentIn(objectsOf(agent())).spec.replicas).toBe(1);
  });

  test('replicas 0 are kept as 0', () => {
    expect(deploymentIn(objectsOf(agent({ replicas: 0 }))).spec.replicas).toBe(0);
  });

  test('replicas are taken from the spec', () => {
    expect(deploymentIn(objectsOf(agent({ replicas: 4 }))).spec.replicas).toBe(4);
  });

  test('a pool without replicas gets 1, whatever the top-level replicas', () => {
    const objects = objectsOf(modelApi({ replicas: 5, pools: [{ name: 'a' }, { name: 'b', replicas: 0 }] }));
    expect(ofKind(objects, 'Deployment').map((d) => d.spec.replicas)).toEqual([1, 0]);
  });

  test('a minimal CR sets no pod fields beyond the security ones (no cdk8s-plus defaults)', () => {
    const pod = deploymentIn(objectsOf(agent())).spec.template.spec;
    expect(Object.keys(pod).sort()).toEqual(['automountServiceAccountToken', 'containers', 'enableServiceLinks', 'securityContext']);
  });

  test('a minimal CR sets no container resources, probes, command, args or env', () => {
    expect(Object.keys(containerOf(deploymentIn(objectsOf(agent())))).sort())
      .toEqual(['image', 'imagePullPolicy', 'name', 'ports', 'securityContext']);
  });

  test('the container port is the spec port, named http, TCP', () => {
    expect(containerOf(deploymentIn(objectsOf(agent({ port: 9000 })))).ports).toEqual([{ name: 'http', containerPort: 9000, protocol: 'TCP' }]);
  });

  test('the port defaults to 8000', () => {
    expect(containerOf(deploymentIn(objectsOf(agent()))).ports[0].containerPort).toBe(8000);
  });

  test('command and args are passed through', () => {
    const c = containerOf(deploymentIn(objectsOf(modelApi({ command: ['python', '-m', 'vllm'], args: ['--model', 'x'] }))));
    expect([c.command, c.args]).toEqual([['python', '-m', 'vllm'], ['--model', 'x']]);
  });

  test('env variables keep their order, values and Secret references', () => {
    const env = [
      { name: 'LOG_LEVEL', value: 'info' },
      { name: 'OPENAI_API_KEY', valueFrom: { secretKeyRef: { name: 'provider-keys', key: 'openai' } } },
    ];
    expect(containerOf(deploymentIn(objectsOf(mcpServer({ env })))).env).toEqual(env);
  });
});

describe('resources', () => {
  const resourcesOf = (spec: Record<string, unknown>, name?: string): Json =>
    containerOf(deploymentIn(objectsOf(modelApi(spec)), name)).resources;

  test('cpu and memory become requests; memory is also the limit; cpu gets no limit', () => {
    expect(resourcesOf({ resources: { cpu: '500m', memory: '1Gi' } })).toEqual({
      requests: { cpu: '500m', memory: '1Gi' },
      limits: { memory: '1Gi' },
    });
  });

  test('cpu alone gives no limits at all', () => {
    expect(resourcesOf({ resources: { cpu: '2' } })).toEqual({ requests: { cpu: '2' } });
  });

  test('a quantity written as a number is rendered as a string', () => {
    expect(resourcesOf({ resources: { cpu: 2 } }).requests.cpu).toBe('2');
  });

  test('gpu > 0 sets the nvidia.com/gpu limit as the string "1"', () => {
    expect(resourcesOf({ resources: { gpu: 1 } }).limits['nvidia.com/gpu']).toBe('1');
  });

  test('the gpu request equals the gpu limit', () => {
    const r = resourcesOf({ resources: { gpu: 2 } });
    expect([r.requests['nvidia.com/gpu'], r.limits['nvidia.com/gpu']]).toEqual(['2', '2']);
  });

  test('gpu > 0 adds a NoSchedule toleration for the gpu resource', () => {
    const d = deploymentIn(objectsOf(modelApi({ resources: { gpu: 1 } })));
    expect(d.spec.template.spec.tolerations).toEqual([{ key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' }]);
  });

  test('a custom gpuResource is used for requests and limits instead of nvidia.com/gpu', () => {
    expect(resourcesOf({ resources: { gpu: 1, gpuResource: 'amd.com/gpu' } })).toEqual({
      requests: { 'amd.com/gpu': '1' },
      limits: { 'amd.com/gpu': '1' },
    });
  });

  test('a custom gpuResource is the key of the toleration', () => {
    const d = deploymentIn(objectsOf(modelApi({ resources: { gpu: 1, gpuResource: 'amd.com/gpu' } })));
    expect(d.spec.template.spec.tolerations).toEqual([{ key: 'amd.com/gpu', operator: 'Exists', effect: 'NoSchedule' }]);
  });

  test('gpu 0 sets no gpu resource and no toleration', () => {
    const d = deploymentIn(objectsOf(modelApi({ resources: { gpu: 0, cpu: '1' } })));
    expect([containerOf(d).resources, d.spec.template.spec.tolerations]).toEqual([{ requests: { cpu: '1' } }, undefined]);
  });

  test('the CPU pool of a mixed CR has no gpu limit', () => {
    const limits = resourcesOf({ pools: GPU_AND_CPU_POOLS }, 'modelapi-llama-cpu').limits;
    expect(limits).toEqual({ memory: '16Gi' });
  });

  test('the CPU pool of a mixed CR has no toleration', () => {
    const d = deploymentIn(objectsOf(modelApi({ pools: GPU_AND_CPU_POOLS })), 'modelapi-llama-cpu');
    expect(d.spec.template.spec.tolerations).toBeUndefined();
  });

  test('a pool with its own resources does not inherit the top-level gpu', () => {
    const spec = { resources: { gpu: 1 }, pools: [{ name: 'gpu' }, { name: 'cpu', resources: { cpu: '4' } }] };
    expect(resourcesOf(spec, 'modelapi-llama-cpu')).toEqual({ requests: { cpu: '4' } });
  });

  test('a pool without resources inherits the top-level resources', () => {
    const spec = { resources: { gpu: 1 }, pools: [{ name: 'gpu' }, { name: 'cpu', resources: { cpu: '4' } }] };
    expect(resourcesOf(spec, 'modelapi-llama-gpu').limits).toEqual({ 'nvidia.com/gpu': '1' });
  });

  test('user tolerations come first, then the gpu toleration', () => {
    const own = { key: 'dedicated', operator: 'Equal', value: 'ml', effect: 'NoSchedule' };
    const d = deploymentIn(objectsOf(modelApi({ resources: { gpu: 1 }, tolerations: [own] })));
    expect(d.spec.template.spec.tolerations).toEqual([own, { key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' }]);
  });

  test('a pool nodeSelector applies to that pool only', () => {
    const pools = [{ name: 'a100', nodeSelector: { 'nvidia.com/gpu.product': 'A100' } }, { name: 'cpu' }];
    const objects = objectsOf(modelApi({ nodeSelector: { zone: 'a' }, pools }));
    expect([
      deploymentIn(objects, 'modelapi-llama-a100').spec.template.spec.nodeSelector,
      deploymentIn(objects, 'modelapi-llama-cpu').spec.template.spec.nodeSelector,
    ]).toEqual([{ 'nvidia.com/gpu.product': 'A100' }, { zone: 'a' }]);
  });
});

describe('probes', () => {
  test('health.path gives readiness, liveness and startup probes on the http port', () => {
    const c = containerOf(deploymentIn(objectsOf(agent({ health: { path: '/health' } }))));
    for (const probe of [c.readinessProbe, c.livenessProbe, c.startupProbe]) {
      expect(probe.httpGet).toEqual({ path: '/health', port: 'http', scheme: 'HTTP' });
    }
  });

  test('the probes target the container port by its name', () => {
    const c = containerOf(deploymentIn(objectsOf(agent({ port: 9000, health: { path: '/health' } }))));
    expect(c.ports.find((p: Json) => p.name === c.readinessProbe.httpGet.port).containerPort).toBe(9000);
  });

  test('without health there are no probes', () => {
    const c = containerOf(deploymentIn(objectsOf(agent())));
    expect([c.readinessProbe, c.livenessProbe, c.startupProbe]).toEqual([undefined, undefined, undefined]);
  });
});

describe('Service', () => {
  test('is a ClusterIP Service', () => {
    expect(serviceIn(objectsOf(agent())).spec.type).toBe('ClusterIP');
  });

  test('exposes the spec port over TCP, targeting the named container port', () => {
    expect(serviceIn(objectsOf(agent({ port: 3000 }))).spec.ports).toEqual([{ name: 'http', port: 3000, targetPort: 'http', protocol: 'TCP' }]);
  });

  test('selects by instance and pool labels only', () => {
    expect(serviceIn(objectsOf(agent())).spec.selector).toEqual({ 'app.kubernetes.io/instance': 'agent-research', 'agentway.dev/pool': 'default' });
  });

  test('each pool Service selects only the pods of its own pool', () => {
    const objects = objectsOf(modelApi({ pools: GPU_AND_CPU_POOLS }));
    const selector = serviceIn(objects, 'modelapi-llama-a100').spec.selector;
    const matches = (labels: Record<string, string>) => Object.entries(selector).every(([k, v]) => labels[k] === v);
    expect(ofKind(objects, 'Deployment').filter((d) => matches(d.spec.template.metadata.labels)).map((d) => d.metadata.name))
      .toEqual(['modelapi-llama-a100']);
  });
});

describe('Agent environment', () => {
  test('modelAPI becomes MODEL_API_URL, the ModelAPI path on the Gateway', () => {
    expect(envOf(deploymentIn(objectsOf(agent({ modelAPI: 'llama' })))).MODEL_API_URL)
      .toBe(`http://agentway-gateway.agentway-system.svc/${NAMESPACE}/modelapi/llama`);
  });

  test('mcpServers become MCP_SERVERS, a JSON list of names and Gateway URLs', () => {
    const value = envOf(deploymentIn(objectsOf(agent({ mcpServers: ['search', 'files'] })))).MCP_SERVERS;
    expect(JSON.parse(value!)).toEqual([
      { name: 'search', url: `http://agentway-gateway.agentway-system.svc/${NAMESPACE}/mcp/search` },
      { name: 'files', url: `http://agentway-gateway.agentway-system.svc/${NAMESPACE}/mcp/files` },
    ]);
  });

  test('the configured Gateway URL is the base of MODEL_API_URL', () => {
    const { objects } = render(agent({ modelAPI: 'llama' }), env({ gateway: { url: 'http://gw.example.internal:8080' } }));
    expect(envOf(deploymentIn(objects)).MODEL_API_URL).toBe(`http://gw.example.internal:8080/${NAMESPACE}/modelapi/llama`);
  });

  test('an Agent without modelAPI or mcpServers gets neither variable', () => {
    const vars = envOf(deploymentIn(objectsOf(agent({ env: [{ name: 'A', value: '1' }] }))));
    expect(Object.keys(vars)).toEqual(['A']);
  });

  test('an empty mcpServers list sets no MCP_SERVERS', () => {
    expect(envOf(deploymentIn(objectsOf(agent({ mcpServers: [] })))).MCP_SERVERS).toBeUndefined();
  });

  test('the spec variables follow the agentway ones', () => {
    const vars = envOf(deploymentIn(objectsOf(agent({ modelAPI: 'llama', env: [{ name: 'LOG_LEVEL', value: 'info' }] }))));
    expect(Object.keys(vars)).toEqual(['MODEL_API_URL', 'LOG_LEVEL']);
  });

  test('every pool Deployment of an Agent gets MODEL_API_URL', () => {
    const objects = objectsOf(agent({ modelAPI: 'llama', pools: [{ name: 'a' }, { name: 'b' }] }));
    expect(ofKind(objects, 'Deployment').map((d) => envOf(d).MODEL_API_URL !== undefined)).toEqual([true, true]);
  });
});

describe('render result', () => {
  test('lists each pool with its object name, replicas, gpu and port', () => {
    const result = render(modelApi({ port: 8001, pools: GPU_AND_CPU_POOLS }), testEnv);
    expect(result.pools).toEqual([
      { name: 'a100', objectName: 'modelapi-llama-a100', replicas: 2, gpu: 1, port: 8001 },
      { name: 'cpu', objectName: 'modelapi-llama-cpu', replicas: 3, gpu: 0, port: 8001 },
    ]);
  });

  test('returns the CR with its schema defaults applied', () => {
    const spec = render(mcpServer(), testEnv).resource!.spec as Json;
    expect([spec.port, spec.replicas, spec.capacity, spec.gatewayRoute]).toEqual([
      8000, 1, { source: 'replicas', path: '/capacity', metric: 'gpus', intervalSeconds: 2 }, { enabled: true },
    ]);
  });

  test('does not modify its input', () => {
    const cr = agent({ pools: [{ name: 'a' }] });
    const before = structuredClone(cr);
    render(cr, testEnv);
    expect(cr).toEqual(before);
  });
});
