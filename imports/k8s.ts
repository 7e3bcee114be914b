// Kubernetes 1.28 types. cdk8s-plus-28 ships exactly what `cdk8s import k8s@1.28` generates; that command
// needs the internet, so the project takes them from the package instead of regenerating them. Only that
// module of the package: its index loads every cdk8s-plus construct too (~3 MiB of a process that renders).
//
// Loaded with require(): an ESM `import` of a CommonJS module makes node scan the module's source for the
// names it exports, 2.6 MB here, about 35 ms of every process that renders. `K8s` is the same module's types.
import { createRequire } from 'node:module';
import type * as K8s from 'cdk8s-plus-28/lib/imports/k8s.js';

export type { K8s };
export const k8s: typeof K8s = createRequire(import.meta.url)('cdk8s-plus-28/lib/imports/k8s.js');
