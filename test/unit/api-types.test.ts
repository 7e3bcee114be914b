/**
 * The hand-written API types (manifests/api.ts) and the types cdk8s generates from our CRDs (imports/) name
 * the same fields. Checked at compile time (`npm run lint` fails on a mismatch) and, for the spec's
 * top-level fields, against the CRD schema at run time.
 */
import { describe, expect, test } from '@jest/globals';
import type * as Gen from '../../imports/agentway-agentway.dev.js';
import type * as Api from '../../manifests/api.js';
import { openApiSchema } from '../../manifests/crds.js';

/** Field names, compared case-insensitively: cdk8s import spells `modelAPI` as `modelApi`. */
type Fields<T> = Lowercase<Extract<keyof NonNullable<T>, string>>;
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
type Agree<A, B> = Same<Fields<A>, Fields<B>>;

// Each line fails to compile when the two types name different fields.
const agree: Record<string, true> = {
  agentSpec: true satisfies Agree<Api.AgentSpec, Gen.AgentSpec>,
  modelApiSpec: true satisfies Agree<Api.ModelAPISpec, Gen.ModelApiSpec>,
  mcpServerSpec: true satisfies Agree<Api.MCPServerSpec, Gen.McpServerSpec>,
  clientPoolSpec: true satisfies Agree<Api.ClientPoolSpec, Gen.ClientPoolSpec>,
  clientPoolTemplate: true satisfies Agree<Api.ClientPoolSpec['template'], Gen.ClientPoolSpecTemplate>,
  clientInstanceSpec: true satisfies Agree<Api.ClientInstanceSpec, Gen.ClientInstanceSpec>,
  pool: true satisfies Agree<Api.Pool, Gen.AgentSpecPools>,
  resources: true satisfies Agree<Api.Resources, Gen.AgentSpecResources>,
  toleration: true satisfies Agree<Api.Toleration, Gen.AgentSpecTolerations>,
  envVar: true satisfies Agree<Api.EnvVar, Gen.AgentSpecEnv>,
  capacity: true satisfies Agree<Api.Capacity, Gen.AgentSpecCapacity>,
  gatewayRoute: true satisfies Agree<Api.GatewayRoute, Gen.AgentSpecGatewayRoute>,
};

/** Every spec field of each kind, as the hand-written types have them: the compiler checks the lists are whole. */
const SPEC_FIELDS = {
  Agent: Object.keys({
    image: 1, command: 1, args: 1, env: 1, port: 1, replicas: 1, resources: 1, nodeSelector: 1, tolerations: 1, health: 1,
    pools: 1, capacity: 1, gatewayRoute: 1, modelAPI: 1, mcpServers: 1,
  } satisfies Record<keyof Api.AgentSpec, 1>),
  ClientInstance: Object.keys({ pool: 1, client: 1, instance: 1 } satisfies Record<keyof Api.ClientInstanceSpec, 1>),
};

describe('hand-written API types', () => {
  test('agree with the generated ones (checked by the compiler)', () => {
    expect(Object.values(agree).every((v) => v === true)).toBe(true);
  });

  test.each(Object.entries(SPEC_FIELDS))('%s spec fields are the CRD schema\'s', (kind, fields) => {
    const schema = openApiSchema(kind as Api.Kind) as { properties: { spec: { properties: Record<string, unknown> } } };
    expect([...fields].sort()).toEqual(Object.keys(schema.properties.spec.properties).sort());
  });
});
