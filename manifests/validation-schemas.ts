/**
 * What CRs are validated against: each CRD's schema, made strict for authors, and the ajv options that
 * apply the CRD's defaults as the API server does. scripts/validators.ts compiles these ahead of time into
 * imports/agentway-validators.ts (`npm run import`), so no process compiles a schema at start-up; a unit
 * test proves the committed file is what compiling them gives.
 */
import { ALL_KINDS, Kind } from './api.js';
import { Schema, modelAccessSchema, modelRouteSchema, openApiSchema } from './crds.js';

export type ValidatedKind = Kind | 'ModelRoute' | 'ModelAccess';
export const VALIDATED_KINDS: readonly ValidatedKind[] = [...ALL_KINDS, 'ModelRoute', 'ModelAccess'];

/**
 * Every problem is reported (allErrors); defaults are written into the CR (useDefaults); `format` is
 * documentation for clients, as it is for the API server's structural schemas.
 */
export const VALIDATOR_OPTIONS = { allErrors: true, useDefaults: true, strict: false, validateFormats: false } as const;

/**
 * The CRD schema, made strict for authors: unknown fields are errors here (the API server prunes them).
 * Descriptions are left out: they do not validate anything.
 */
function strictSchema(schema: Schema): Schema {
  const out: Schema = {};
  for (const [key, value] of Object.entries(schema)) {
    if (key === 'description') continue;
    if (key === 'properties' && value && typeof value === 'object') {
      out[key] = Object.fromEntries(Object.entries(value as Record<string, Schema>).map(([k, v]) => [k, strictSchema(v)]));
    } else if ((key === 'items' || key === 'additionalProperties') && value && typeof value === 'object') {
      out[key] = strictSchema(value as Schema);
    } else if (key === 'anyOf' && Array.isArray(value)) {
      out[key] = value.map((v) => strictSchema(v as Schema));
    } else {
      out[key] = value;
    }
  }
  if (schema.properties && schema.additionalProperties === undefined) out.additionalProperties = false;
  return out;
}

/** Only what the user writes is checked: metadata stays open but for its name, status is ignored. */
function userSchema(crd: Schema): Schema {
  const { metadata, spec } = (crd as { properties: Record<string, Schema> }).properties;
  return { type: 'object', required: ['spec'], properties: { metadata, spec: strictSchema(spec) } };
}

/** The schema each kind is validated against. */
export function validationSchema(kind: ValidatedKind): Schema {
  switch (kind) {
    case 'ModelRoute': return userSchema(modelRouteSchema());
    case 'ModelAccess': return userSchema(modelAccessSchema());
    default: return userSchema(openApiSchema(kind));
  }
}
