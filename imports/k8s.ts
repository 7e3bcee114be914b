// Kubernetes 1.28 types. cdk8s-plus-28 ships exactly what `cdk8s import k8s@1.28` generates; that command
// needs the internet, so the project takes them from the package instead of regenerating them. Only that
// module of the package: its index loads every cdk8s-plus construct too (~3 MiB of a process that renders).
export * as k8s from 'cdk8s-plus-28/lib/imports/k8s.js';
