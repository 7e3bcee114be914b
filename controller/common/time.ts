/** Timestamps as Kubernetes writes them. */

/** A timestamp as Kubernetes writes them: RFC 3339 in UTC, whole seconds. */
export function rfc3339(time: Date): string {
  return time.toISOString().replace(/\.\d{3}Z$/, 'Z');
}
