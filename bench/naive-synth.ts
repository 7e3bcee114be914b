/**
 * The synth benchmark's baseline: what a first cdk8s program for these CRs looks like. One App holds a Chart
 * per CR, each built from cdk8s-plus-28 Deployments and Services and the imported HTTPRoute, and the default
 * `app.synth()` writes one file per chart. Usage: node naive-synth.js <input dir> <output dir>
 */
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { ApiObject, App, Chart, JsonPatch, Size } from 'cdk8s';
import * as kplus from 'cdk8s-plus-28';
import { Construct } from 'constructs';
import { parseAllDocuments } from 'yaml';
import {
  HttpRoute, HttpRouteSpecRulesBackendRefs, HttpRouteSpecRulesFiltersType, HttpRouteSpecRulesFiltersUrlRewritePathType, HttpRouteSpecRulesMatchesPathType,
} from '../imports/httproute-gateway.networking.k8s.io.js';

type Obj = Record<string, any>;

const SEGMENT: Record<string, string> = { Agent: 'agent', ModelAPI: 'modelapi', MCPServer: 'mcp', ClientPool: 'client' };
const TIMEOUT: Record<string, string> = { Agent: '120s', ModelAPI: '120s', MCPServer: '30s', ClientPool: '120s' };

function cpu(q: string | number): kplus.Cpu {
  const s = String(q);
  return s.endsWith('m') ? kplus.Cpu.millis(Number(s.slice(0, -1))) : kplus.Cpu.units(Number(s));
}

function memory(q: string | number): Size {
  const s = String(q);
  if (s.endsWith('Gi')) return Size.gibibytes(Number(s.slice(0, -2)));
  if (s.endsWith('Mi')) return Size.mebibytes(Number(s.slice(0, -2)));
  return Size.kibibytes(Number(s) / 1024);
}

class CrChart extends Chart {
  public constructor(scope: Construct, cr: Obj) {
    super(scope, `${cr.metadata.namespace}-${cr.kind.toLowerCase()}-${cr.metadata.name}`, { namespace: cr.metadata.namespace });
    const segment = SEGMENT[cr.kind];
    const base = `${segment}-${cr.metadata.name}`;
    const routePath = `/${cr.metadata.namespace}/${segment}/${cr.metadata.name}`;
    const spec = cr.spec;
    const backends: HttpRouteSpecRulesBackendRefs[] = [];
    if (cr.kind !== 'ClientPool') {
      const pools: Obj[] = spec.pools ?? [{ name: 'default', replicas: spec.replicas ?? 1, resources: spec.resources, nodeSelector: spec.nodeSelector }];
      for (const pool of pools) {
        const name = spec.pools ? `${base}-${pool.name}` : base;
        const res = pool.resources ?? {};
        const env: Record<string, kplus.EnvValue> = {};
        for (const e of spec.env ?? []) {
          env[e.name] = e.valueFrom
            ? kplus.EnvValue.fromSecretValue({ secret: kplus.Secret.fromSecretName(this, `${name}-${e.name}`, e.valueFrom.secretKeyRef.name), key: e.valueFrom.secretKeyRef.key })
            : kplus.EnvValue.fromValue(e.value);
        }
        const deployment = new kplus.Deployment(this, `${name}-deployment`, {
          metadata: { name, labels: { 'app.kubernetes.io/instance': base, 'agentway.dev/pool': pool.name } },
          replicas: pool.replicas ?? 1,
          containers: [{
            name: segment, image: spec.image, portNumber: spec.port, args: spec.args, command: spec.command, envVariables: env,
            resources: {
              cpu: res.cpu ? { request: cpu(res.cpu) } : undefined,
              memory: res.memory ? { request: memory(res.memory), limit: memory(res.memory) } : undefined,
            },
            readiness: spec.health ? kplus.Probe.fromHttpGet(spec.health.path, { port: spec.port }) : undefined,
            liveness: spec.health ? kplus.Probe.fromHttpGet(spec.health.path, { port: spec.port }) : undefined,
          }],
        });
        for (const [k, v] of Object.entries(pool.nodeSelector ?? {})) {
          deployment.scheduling.attract(kplus.Node.labeled(kplus.NodeLabelQuery.is(k, String(v))));
        }
        if ((res.gpu ?? 0) > 0) {
          const gpuResource = (res.gpuResource ?? 'nvidia.com/gpu').replace('/', '~1');
          ApiObject.of(deployment).addJsonPatch(JsonPatch.add(`/spec/template/spec/containers/0/resources/limits/${gpuResource}`, String(res.gpu)));
          deployment.scheduling.tolerate(kplus.Node.tainted(kplus.NodeTaintQuery.exists(res.gpuResource ?? 'nvidia.com/gpu', { effect: kplus.TaintEffect.NO_SCHEDULE })));
        }
        new kplus.Service(this, `${name}-service`, { metadata: { name }, selector: deployment, ports: [{ port: spec.port, targetPort: spec.port }] });
        backends.push({ kind: 'Service', name, port: spec.port, weight: Math.max(1, pool.replicas ?? 1) });
      }
    } else {
      backends.push({ kind: 'Service', name: 'agentway-route-server', namespace: 'agentway-system', port: 8090, weight: 1 });
    }
    new HttpRoute(this, 'route', {
      metadata: { name: base },
      spec: {
        parentRefs: [{ group: 'gateway.networking.k8s.io', kind: 'Gateway', name: 'agentway-gateway', namespace: 'agentway-system' }],
        rules: [{
          matches: [{ path: { type: HttpRouteSpecRulesMatchesPathType.PATH_PREFIX, value: routePath } }],
          filters: cr.kind === 'ClientPool' ? undefined : [{
            type: HttpRouteSpecRulesFiltersType.URL_REWRITE,
            urlRewrite: { path: { type: HttpRouteSpecRulesFiltersUrlRewritePathType.REPLACE_PREFIX_MATCH, replacePrefixMatch: '/' } },
          }],
          backendRefs: backends,
          timeouts: { request: spec.gatewayRoute?.timeout ?? TIMEOUT[cr.kind] },
        }],
      },
    });
  }
}

const [inputDir, outdir] = process.argv.slice(2);
if (!inputDir || !outdir) {
  process.stderr.write('usage: naive-synth <input dir> <output dir>\n');
  process.exit(2);
}
const app = new App({ outdir });
for (const file of readdirSync(inputDir).filter((f) => f.endsWith('.yaml')).sort()) {
  for (const doc of parseAllDocuments(readFileSync(path.join(inputDir, file), 'utf8'))) {
    const cr = doc.toJS() as Obj | null;
    if (cr && SEGMENT[cr.kind]) new CrChart(app, cr);
  }
}
app.synth();
