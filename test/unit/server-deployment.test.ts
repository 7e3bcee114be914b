/** The heap limit of every installed agentway container follows its memory limit. */
import { describe, expect, test } from '@jest/globals';
import { App, Chart } from 'cdk8s';
import { renderInstall } from '../../manifests/install.js';
import {
  CONTROLLER_NODE_OPTIONS, INSTALLED_MEMORY_LIMIT_MIB, INSTALLED_NODE_OPTIONS, MALLOC_TUNABLES, ServerDeployment, heapLimitMiB,
} from '../../manifests/server-deployment.js';
import { Json } from './fixtures.js';

const mib = (q: string) => {
  const m = /^(\d+)(Mi|Gi)$/.exec(q);
  if (!m) throw new Error(`not a MiB or GiB quantity: ${q}`);
  return Number(m[1]) * (m[2] === 'Gi' ? 1024 : 1);
};
const heapFlag = (container: Json) => Number(/--max-old-space-size=(\d+)/.exec(container.env.find((e: Json) => e.name === 'NODE_OPTIONS').value)![1]);

describe('heap limit', () => {
  test('every installed container runs with the heap limit of its memory limit, below it', () => {
    const deployments = (renderInstall({ namespace: 'agentway-system' }) as Json[]).filter((o) => o.kind === 'Deployment');
    expect(deployments.map((d) => d.metadata.name).sort()).toEqual(['agentway-controller', 'agentway-route-server', 'agentway-router']);
    for (const d of deployments) {
      const c = d.spec.template.spec.containers[0];
      const limit = mib(c.resources.limits.memory);
      expect(limit).toBe(INSTALLED_MEMORY_LIMIT_MIB);
      expect(heapFlag(c)).toBe(heapLimitMiB(limit));
      expect(heapFlag(c)).toBeLessThan(limit);
    }
    expect(INSTALLED_NODE_OPTIONS).toBe(`--max-old-space-size=${heapLimitMiB(INSTALLED_MEMORY_LIMIT_MIB)}`);
  });

  test('the controller favours a small footprint, the data plane latency; every container gives freed memory back', () => {
    const deployments = (renderInstall({ namespace: 'agentway-system' }) as Json[]).filter((o) => o.kind === 'Deployment');
    const env = (name: string) => Object.fromEntries(
      deployments.find((d) => d.metadata.name === name)!.spec.template.spec.containers[0].env.filter((e: Json) => 'value' in e).map((e: Json) => [e.name, e.value]),
    );
    expect(env('agentway-controller')).toEqual({ NODE_OPTIONS: CONTROLLER_NODE_OPTIONS, GLIBC_TUNABLES: MALLOC_TUNABLES });
    expect(CONTROLLER_NODE_OPTIONS).toBe(`--max-old-space-size=${heapLimitMiB(INSTALLED_MEMORY_LIMIT_MIB)} --optimize-for-size`);
    for (const name of ['agentway-route-server', 'agentway-router']) {
      expect(env(name)).toEqual({ NODE_OPTIONS: INSTALLED_NODE_OPTIONS, GLIBC_TUNABLES: MALLOC_TUNABLES });
    }
  });

  test('another memory limit moves the heap limit with it', () => {
    const chart = new Chart(new App({ outdir: 'unused', recordConstructMetadata: false }), 'c');
    const probe = { httpGet: { path: '/healthz', port: { value: 8081 } as never } };
    new ServerDeployment(chart, 'd', {
      namespace: 'ns', name: 'x', component: 'controller', image: 'img', replicas: 1, args: [], ports: [],
      liveness: probe, readiness: probe, memoryLimitMiB: 1024,
    });
    const c = (chart.toJson() as Json[])[0].spec.template.spec.containers[0];
    expect(c.resources.limits.memory).toBe('1024Mi');
    expect(heapFlag(c)).toBe(heapLimitMiB(1024));
    expect(heapLimitMiB(1024)).toBeGreaterThan(heapLimitMiB(INSTALLED_MEMORY_LIMIT_MIB));
  });
});
