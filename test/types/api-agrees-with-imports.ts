/**
 * Compile-time proof that the hand-written read-side types (manifests/api.ts) describe the same objects as
 * the types `cdk8s import` generates from our CRDs (imports/agentway-agentway.dev.ts, kept current by
 * test/unit/imports.test.ts): every spec field, at every depth, with the same type. `npm run lint` fails here
 * when they differ, and test/unit/api-types.test.ts compiles this file too.
 *
 * Allowed to differ: the case of a field name (cdk8s import spells `modelAPI` as `modelApi`); whether a field
 * is optional (the read side has the CRD's defaults applied; api-types.test.ts checks that against the
 * schema); readonly; a string enum (a union of the same strings here); an int-or-string quantity (a class
 * holding `value` there, the value itself here).
 */
import type * as Gen from '../../imports/agentway-agentway.dev.js';
import type * as Api from '../../manifests/api.js';

/** A type as JSON sees it: field names in lower case, every field present, enums and quantities as values. */
export type Shape<T> =
  T extends string ? `${T}` :
  T extends number | boolean ? T :
  T extends readonly (infer U)[] ? Shape<U>[] :
  T extends { readonly value: infer V } ? ([keyof T] extends ['value'] ? V : Fields<T>) :
  Fields<T>;
type Fields<T> = { -readonly [K in keyof T as K extends string ? Lowercase<K> : K]-?: Shape<Exclude<T[K], undefined>> };

/** `true` when each type is assignable to the other. */
export type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
export type Agree<A, B> = Same<Shape<A>, Shape<B>>;
type Expect<T extends true> = T;

/** Each line fails to compile when the two types of a kind's spec differ. */
export type Agreement = [
  Expect<Agree<Api.AgentSpec, Gen.AgentSpec>>,
  Expect<Agree<Api.ModelAPISpec, Gen.ModelApiSpec>>,
  Expect<Agree<Api.MCPServerSpec, Gen.McpServerSpec>>,
  Expect<Agree<Api.ClientPoolSpec, Gen.ClientPoolSpec>>,
  Expect<Agree<Api.ClientInstanceSpec, Gen.ClientInstanceSpec>>,
  Expect<Agree<Api.ModelRouteSpec, Gen.ModelRouteSpec>>,
  Expect<Agree<Api.ModelAccessSpec, Gen.ModelAccessSpec>>,
];
