// Kubernetes 1.28 types. cdk8s-plus-28 ships exactly what `cdk8s import k8s@1.28` generates; that command
// needs the internet, so the project takes them from the package instead of regenerating them.
export { k8s } from 'cdk8s-plus-28';
