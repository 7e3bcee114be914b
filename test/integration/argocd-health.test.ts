/**
 * The Argo CD health checks of examples/argocd-application.yaml, run by a real Lua VM (fengari) on CRs whose
 * status the real controller wrote: Healthy, Progressing and Degraded follow the Ready condition.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { ALL_KINDS } from '../../manifests/api.js';
import { KubeClient } from '../../controller/kube/kube-client.js';
import { repoRoot } from '../env/control-plane.js';
import { Scenarios, testClient } from '../env/controller.js';
import { eventually, markPodsReady } from '../env/kube.js';
import { Obj, TestObjects, cond } from '../env/objects.js';

const T = 90_000;
const fengari = createRequire(import.meta.url)('fengari');
const { lua, lauxlib, lualib, to_luastring, to_jsstring } = fengari;

/** The health scripts of argocd-cm in the example, by `group_Kind`. */
function healthScripts(): Record<string, string> {
  const docs = parseAllDocuments(readFileSync(path.join(repoRoot, 'examples/argocd-application.yaml'), 'utf8')).map((d) => d.toJS());
  const cm = docs.find((d) => d?.kind === 'ConfigMap' && d.metadata.name === 'argocd-cm');
  const prefix = 'resource.customizations.health.';
  return Object.fromEntries(Object.entries(cm.data as Record<string, string>)
    .filter(([k]) => k.startsWith(prefix)).map(([k, v]) => [k.slice(prefix.length), v]));
}

/** Pushes a JSON value onto the Lua stack as Argo CD does: objects and arrays become tables (arrays 1-based). */
function push(L: unknown, value: unknown): void {
  if (value === null || value === undefined) lua.lua_pushnil(L);
  else if (typeof value === 'boolean') lua.lua_pushboolean(L, value);
  else if (typeof value === 'number') (Number.isInteger(value) ? lua.lua_pushinteger : lua.lua_pushnumber)(L, value);
  else if (typeof value === 'string') lua.lua_pushstring(L, to_luastring(value));
  else if (Array.isArray(value)) {
    lua.lua_createtable(L, value.length, 0);
    value.forEach((v, i) => { push(L, v); lua.lua_rawseti(L, -2, i + 1); });
  } else {
    lua.lua_newtable(L);
    for (const [k, v] of Object.entries(value as Obj)) {
      if (v === null || v === undefined) continue;
      push(L, v);
      lua.lua_setfield(L, -2, to_luastring(k));
    }
  }
}

interface Health { readonly status: string; readonly message: string }

/** Runs `script` with the global `obj` set to `object` and returns the table it returns. */
function health(script: string, object: Obj): Health {
  const L = lauxlib.luaL_newstate();
  lualib.luaL_openlibs(L);
  push(L, object);
  lua.lua_setglobal(L, to_luastring('obj'));
  if (lauxlib.luaL_loadstring(L, to_luastring(script)) !== lua.LUA_OK || lua.lua_pcall(L, 0, 1, 0) !== lua.LUA_OK) {
    throw new Error(`Lua: ${to_jsstring(lua.lua_tostring(L, -1))}`);
  }
  const field = (name: string) => {
    lua.lua_getfield(L, -1, to_luastring(name));
    const s = lua.lua_isnil(L, -1) ? '' : to_jsstring(lua.lua_tostring(L, -1));
    lua.lua_pop(L, 1);
    return s;
  };
  return { status: field('status'), message: field('message') };
}

const scripts = healthScripts();
const healthOf = (o: Obj) => health(scripts[`agentway.dev_${o.kind}`], o);

let kube: KubeClient;
let objects: TestObjects;
const scenarios = new Scenarios();

beforeAll(() => { kube = testClient(); objects = new TestObjects(kube); });
afterEach(() => scenarios.stopAll());
afterAll(async () => {
  await scenarios.deleteNamespaces();
  kube.close();
});

/** The CR once the controller has written a Ready condition for its current generation. */
const reconciled = (ns: string, kind: string, name: string, reason?: string) => eventually(async () => {
  const o = await objects.mustGet(kind, ns, name);
  expect(cond(o, 'Ready')).toMatchObject({ observedGeneration: o.metadata.generation, ...(reason ? { reason } : {}) });
  return o;
}, { timeoutMs: T });

test('there is one health check for every kind the controller reconciles', () => {
  expect(Object.keys(scripts).sort()).toEqual(ALL_KINDS.map((k) => `agentway.dev_${k}`).sort());
});

test('Progressing while pods start, Healthy once they are Ready', async () => {
  const ns = await scenarios.namespace('argocd-health');
  await scenarios.run(ns);
  await objects.create(ns, 'MCPServer', 'search', { image: 'ghcr.io/acme/mcp-search:0.4', port: 3000 });
  const starting = await reconciled(ns, 'MCPServer', 'search', 'NoReadyBackends');
  expect(healthOf(starting)).toEqual({ status: 'Progressing', message: '0/1 replicas ready' });

  await eventually(() => markPodsReady(ns, { 'app.kubernetes.io/instance': 'mcp-search' }), { timeoutMs: T });
  const ready = await reconciled(ns, 'MCPServer', 'search', 'Ready');
  expect(healthOf(ready)).toEqual({ status: 'Healthy', message: '1/1 replicas ready' });

  // The same CR after an edit the controller has not seen yet: its Ready condition is of an older generation.
  const edited = { ...ready, metadata: { ...ready.metadata, generation: ready.metadata.generation + 1 } };
  expect(healthOf(edited)).toEqual({ status: 'Progressing', message: `Waiting for the agentway controller to observe generation ${edited.metadata.generation}` });
}, 2 * T);

test('Healthy when scaled to zero', async () => {
  const ns = await scenarios.namespace('argocd-health');
  await scenarios.run(ns);
  await objects.create(ns, 'Agent', 'idle', { image: 'ghcr.io/acme/agent:1.2', port: 8000, replicas: 0 });
  expect(healthOf(await reconciled(ns, 'Agent', 'idle', 'ScaledToZero')).status).toBe('Healthy');
}, T);

test('Degraded when it needs a person: an invalid spec, a missing reference', async () => {
  const ns = await scenarios.namespace('argocd-health');
  await scenarios.run(ns);
  await objects.create(ns, 'Agent', 'typo', { image: 'ghcr.io/acme/agent:1.2 ', port: 8000 });
  await objects.create(ns, 'Agent', 'dangling', { image: 'ghcr.io/acme/agent:1.2', port: 8000, modelAPI: 'absent' });
  const invalid = await reconciled(ns, 'Agent', 'typo', 'InvalidSpec');
  expect(healthOf(invalid)).toEqual({ status: 'Degraded', message: cond(invalid, 'Ready')!.message });
  expect(healthOf(invalid).message).toContain('spec.image');
  const dangling = await reconciled(ns, 'Agent', 'dangling', 'ModelAPINotFound');
  expect(healthOf(dangling)).toEqual({ status: 'Degraded', message: 'spec.modelAPI: ModelAPI "absent" not found in namespace "' + ns + '"' });
}, T);

test('Progressing before the controller has written any status', async () => {
  const ns = await scenarios.namespace('argocd-health');
  const fresh = await objects.create(ns, 'ClientPool', 'sandbox', { template: { image: 'ghcr.io/acme/sandbox:2.0', port: 8080 }, apiKeys: { secretRef: { name: 'keys' } } });
  expect(fresh.status?.conditions).toBeUndefined();
  expect(healthOf(fresh)).toEqual({ status: 'Progressing', message: 'Waiting for the agentway controller' });
});
