/**
 * Where the Gateway API v1.3.0 standard-channel CRDs come from, for the test control plane, the schema tests and
 * `npm run import`. In order:
 *   1. `$GATEWAY_API_CRDS`: a directory of CRD files (the release's config/crd/standard) or one
 *      standard-install.yaml. When it is set it is the only place looked at.
 *   2. `../shared/crds/gateway-api-v1.3.0-standard` beside the repository.
 *   3. standard-install.yaml in the cache directory (`$AGENTWAY_GATEWAY_API_CACHE`, else
 *      `~/.cache/agentway/gateway-api-v1.3.0`).
 *   4. A download of the release's standard-install.yaml into that cache, checked against its pinned sha256.
 * None of them: one error saying what to set. The files are read where they are; none is copied into the repository.
 *
 * Run directly (`tsx scripts/gateway-api-crds.ts <dir>`), it writes the CRDs into <dir>, one file per CRD, and
 * prints where they came from.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

export const GATEWAY_API_VERSION = 'v1.3.0';
export const GATEWAY_API_CRDS_VARIABLE = 'GATEWAY_API_CRDS';
export const STANDARD_INSTALL_URL =
  `https://github.com/kubernetes-sigs/gateway-api/releases/download/${GATEWAY_API_VERSION}/standard-install.yaml`;
/** sha256 of the v1.3.0 release asset standard-install.yaml. */
export const STANDARD_INSTALL_SHA256 = '78796d5c51450fc55d8dc8092ba8137f8c807982d7508d7875d5c537a24082b9';
const STANDARD_INSTALL = 'standard-install.yaml';
const DOWNLOAD_TIMEOUT_MS = 60_000;

/** One CustomResourceDefinition as its own YAML file, named as in the release (`{group}_{plural}.yaml`). */
export interface CrdFile {
  readonly name: string;
  readonly text: string;
}

/** Which step of the lookup found the CRDs, the path they were read from, and the CRDs. */
export interface GatewayApiCrds {
  readonly source: 'GATEWAY_API_CRDS' | 'shared' | 'cache' | 'download';
  readonly path: string;
  readonly files: readonly CrdFile[];
}

export interface LookupOptions {
  /** Value of $GATEWAY_API_CRDS. @default process.env.GATEWAY_API_CRDS */
  readonly variable?: string;
  /** The repository, beside which `../shared` is looked for. @default this file's repository */
  readonly repoRoot?: string;
  /** Cache directory of the downloaded file. @default $AGENTWAY_GATEWAY_API_CACHE or ~/.cache/agentway/gateway-api-v1.3.0 */
  readonly cacheDir?: string;
  /** Where the release file is downloaded from. @default STANDARD_INSTALL_URL */
  readonly url?: string;
  /** The download's expected sha256. @default STANDARD_INSTALL_SHA256 */
  readonly sha256?: string;
}

export const defaultRepoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** The default cache directory of the downloaded release file. */
export function defaultCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.AGENTWAY_GATEWAY_API_CACHE) return env.AGENTWAY_GATEWAY_API_CACHE;
  return join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'agentway', `gateway-api-${GATEWAY_API_VERSION}`);
}

/** Finds the Gateway API CRDs by the lookup above; throws one error naming GATEWAY_API_CRDS if there are none. */
export async function findGatewayApiCrds(opts: LookupOptions = {}): Promise<GatewayApiCrds> {
  const variable = 'variable' in opts ? opts.variable : process.env[GATEWAY_API_CRDS_VARIABLE];
  if (variable) {
    const files = existsSync(variable) ? crdFilesAt(variable) : [];
    if (files.length === 0) {
      throw new Error(`${GATEWAY_API_CRDS_VARIABLE}=${variable}: no CustomResourceDefinition found there; ${whatToSet()}`);
    }
    return { source: 'GATEWAY_API_CRDS', path: variable, files };
  }
  const looked: string[] = [`${GATEWAY_API_CRDS_VARIABLE} is not set`];

  const shared = resolve(opts.repoRoot ?? defaultRepoRoot, '../shared/crds/gateway-api-v1.3.0-standard');
  if (existsSync(shared)) return { source: 'shared', path: shared, files: crdFilesAt(shared) };
  looked.push(`${shared} does not exist`);

  const cacheDir = opts.cacheDir ?? defaultCacheDir();
  const cached = join(cacheDir, STANDARD_INSTALL);
  const sha256 = opts.sha256 ?? STANDARD_INSTALL_SHA256;
  if (existsSync(cached)) {
    const text = readFileSync(cached, 'utf8');
    if (digest(text) === sha256) return { source: 'cache', path: cached, files: splitStandardInstall(text) };
    looked.push(`${cached} has sha256 ${digest(text)}, not ${sha256}`);
  } else {
    looked.push(`${cached} does not exist`);
  }

  const url = opts.url ?? STANDARD_INSTALL_URL;
  try {
    const text = await download(url, sha256);
    mkdirSync(cacheDir, { recursive: true });
    writeFileSync(`${cached}.tmp`, text);
    renameSync(`${cached}.tmp`, cached);
    return { source: 'download', path: cached, files: splitStandardInstall(text) };
  } catch (err) {
    looked.push(`downloading ${url} failed: ${(err as Error).message}`);
  }
  throw new Error(`Gateway API ${GATEWAY_API_VERSION} CRDs not found: ${whatToSet()}. Looked at: ${looked.join('; ')}.`);
}

function whatToSet(): string {
  return `set ${GATEWAY_API_CRDS_VARIABLE} to a directory of the Gateway API ${GATEWAY_API_VERSION} standard CRD files ` +
    `(config/crd/standard of the release) or to its standard-install.yaml (${STANDARD_INSTALL_URL})`;
}

async function download(url: string, sha256: string): Promise<string> {
  let res: Response;
  try {
    res = await fetch(url, { signal: AbortSignal.timeout(DOWNLOAD_TIMEOUT_MS) });
  } catch (err) {
    // fetch's own message is "fetch failed"; what happened (ENOTFOUND, ECONNREFUSED, ...) is in its cause.
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    throw new Error(cause?.message ?? cause?.code ?? (err as Error).message);
  }
  if (!res.ok) throw new Error(`HTTP ${res.status}`);
  const text = await res.text();
  if (digest(text) !== sha256) throw new Error(`the file has sha256 ${digest(text)}, expected ${sha256}`);
  return text;
}

function digest(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** The CRDs in a directory of YAML files, or in one (multi-document) YAML file. */
function crdFilesAt(path: string): CrdFile[] {
  if (!statSync(path).isDirectory()) return splitStandardInstall(readFileSync(path, 'utf8'));
  return readdirSync(path)
    .filter((f) => f.endsWith('.yaml') || f.endsWith('.yml'))
    .sort()
    .flatMap((f) => splitStandardInstall(readFileSync(join(path, f), 'utf8')));
}

/**
 * The CRDs of a multi-document YAML file, each as the text of its document. For the release's
 * standard-install.yaml, which concatenates the CRD files each behind a comment naming it, that text is the
 * CRD file itself.
 */
export function splitStandardInstall(text: string): CrdFile[] {
  return text.split(/^---[ \t]*\n/m).flatMap((part) => {
    const body = part.replace(/^(#.*\n|\s*\n)*/, '');
    const doc = body.trim() === '' ? null : parse(body);
    if (doc?.kind !== 'CustomResourceDefinition') return [];
    return [{ name: `${doc.spec.group}_${doc.spec.names.plural}.yaml`, text: body }];
  });
}

/** The CRD objects, parsed. */
export function crdObjectsOf(crds: GatewayApiCrds): Record<string, any>[] {
  return crds.files.map((f) => parse(f.text));
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const out = process.argv[2];
  if (!out) {
    process.stderr.write('usage: tsx scripts/gateway-api-crds.ts <output directory>\n');
    process.exit(2);
  }
  findGatewayApiCrds().then((crds) => {
    mkdirSync(out, { recursive: true });
    for (const f of crds.files) writeFileSync(join(out, f.name), f.text);
    process.stderr.write(`Gateway API CRDs from ${crds.source}: ${crds.path}\n`);
  }, (err: Error) => {
    process.stderr.write(`${err.message}\n`);
    process.exit(1);
  });
}
