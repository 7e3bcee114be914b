/**
 * imports/ is generated, not hand-edited: regenerating our CRD types and our CRs' validators gives the
 * committed files, and CRs written with those types render through the same core as YAML does.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { App, Chart } from 'cdk8s';
import { Agent, ModelApi } from '../../imports/agentway-agentway.dev.js';
import { toYaml } from '../../manifests/yaml.js';
import { crdObjects } from '../../manifests/crds.js';
import { render } from '../../manifests/render.js';
import { testEnv } from './fixtures.js';
import { VALIDATORS_FILE, validatorsModule } from '../../scripts/validators.js';

test('imports/agentway-agentway.dev.ts is what cdk8s import generates from our CRDs', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'agentway-import-'));
  try {
    writeFileSync(path.join(dir, 'agentway.yaml'), toYaml(crdObjects()));
    // Run in the temporary directory: `cdk8s import <file>` records the file in the working directory's cdk8s.yaml.
    execFileSync(path.resolve('node_modules/.bin/cdk8s'), ['import', `agentway:=${path.join(dir, 'agentway.yaml')}`, '--language', 'typescript', '--output', dir], {
      cwd: dir, env: { ...process.env, CDK8S_CHECK_UPGRADE: 'false' }, stdio: 'pipe',
    });
    expect(readFileSync(path.join(dir, 'agentway-agentway.dev.ts'), 'utf8')).toBe(readFileSync('imports/agentway-agentway.dev.ts', 'utf8'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}, 60_000);

test(`${VALIDATORS_FILE} is what compiling the validation schemas gives`, () => {
  expect(validatorsModule()).toBe(readFileSync(VALIDATORS_FILE, 'utf8'));
});

test('CRs written with the generated types render without errors', () => {
  const chart = new Chart(new App({ outdir: 'unused', recordConstructMetadata: false }), 'typed');
  new ModelApi(chart, 'model', { metadata: { name: 'llama', namespace: 'ai' }, spec: { image: 'vllm/vllm-openai:v0.6.3', port: 8000 } });
  new Agent(chart, 'agent', { metadata: { name: 'research', namespace: 'ai' }, spec: { image: 'ghcr.io/acme/agent:1.2', modelApi: 'llama' } });
  const [model, agent] = chart.toJson();
  expect(agent.spec.modelAPI).toBe('llama');
  for (const cr of [model, agent]) {
    const result = render(cr, testEnv);
    expect(result.errors).toEqual([]);
    expect(result.objects.map((o) => o.kind)).toContain('HTTPRoute');
  }
});
