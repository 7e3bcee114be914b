/**
 * The Gateway API CRD lookup of scripts/gateway-api-crds.ts: $GATEWAY_API_CRDS, ../shared, the cache, a checked
 * download (from a loopback server here), else one error naming the variable.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  STANDARD_INSTALL_SHA256, findGatewayApiCrds, splitStandardInstall,
} from '../../scripts/gateway-api-crds.js';

const crdText = (kind: string, plural: string) => `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: ${plural}.example.test
spec:
  group: example.test
  names:
    kind: ${kind}
    plural: ${plural}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
`;
const WIDGETS = crdText('Widget', 'widgets');
const GADGETS = crdText('Gadget', 'gadgets');

/** A multi-document file laid out like the release's standard-install.yaml: a header, then each file behind a comment. */
function releaseFile(files: ReadonlyArray<readonly [string, string]>, year = 2025): string {
  const license = [
    `# Copyright ${year} The Kubernetes Authors.`, '#',
    '# Licensed under the Apache License, Version 2.0 (the "License");',
    '# you may not use this file except in compliance with the License.',
    '# You may obtain a copy of the License at', '#',
    '#     http://www.apache.org/licenses/LICENSE-2.0', '#',
    '# Unless required by applicable law or agreed to in writing, software',
    '# distributed under the License is distributed on an "AS IS" BASIS,',
    '# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.',
    '# See the License for the specific language governing permissions and',
    '# limitations under the License.', '', '#', '# Gateway API Standard channel install', '#', '',
  ].join('\n');
  return license + files.map(([name, text]) => `---\n#\n# config/crd/standard/${name}\n#\n${text}`).join('');
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

let tmp: string;
beforeEach(() => { tmp = mkdtempSync(join(tmpdir(), 'agentway-gwapi-')); });
afterEach(() => rmSync(tmp, { recursive: true, force: true }));

let closedUrl: string;
beforeAll(async () => {
  // A loopback port that was just free: nothing listens there, so the download is refused at once.
  const server = http.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  closedUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/standard-install.yaml`;
  await new Promise((r) => server.close(r));
});

/** A repository with no ../shared beside it, an empty cache and nothing listening at the download URL. */
function offline(extra: { url?: string; sha256?: string } = {}) {
  const repoRoot = join(tmp, 'repo');
  mkdirSync(repoRoot);
  return { variable: undefined, repoRoot, cacheDir: join(tmp, 'cache'), url: extra.url ?? closedUrl, ...extra };
}

async function serving<T>(body: string, run: (url: string, hits: () => number) => Promise<T>): Promise<T> {
  let hits = 0;
  const server = http.createServer((_req, res) => {
    hits++;
    res.writeHead(200, { 'Content-Type': 'application/yaml', 'Content-Length': Buffer.byteLength(body) });
    res.end(body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    return await run(`http://127.0.0.1:${(server.address() as AddressInfo).port}/standard-install.yaml`, () => hits);
  } finally {
    await new Promise((r) => server.close(r));
  }
}

describe('$GATEWAY_API_CRDS', () => {
  test('wins over ../shared: a directory of CRD files is read as it is', async () => {
    writeFileSync(join(tmp, 'example.test_widgets.yaml'), WIDGETS);
    writeFileSync(join(tmp, 'README.md'), 'not yaml');
    const shared = join(tmp, 'shared/crds/gateway-api-v1.3.0-standard');
    mkdirSync(shared, { recursive: true });
    writeFileSync(join(shared, 'example.test_gadgets.yaml'), GADGETS);
    const crds = await findGatewayApiCrds({ variable: tmp, repoRoot: join(tmp, 'repo') });
    expect(crds.source).toBe('GATEWAY_API_CRDS');
    expect(crds.files).toEqual([{ name: 'example.test_widgets.yaml', text: WIDGETS }]);
  });

  test('may name one standard-install.yaml, which is split back into its CRD files', async () => {
    const file = join(tmp, 'standard-install.yaml');
    writeFileSync(file, releaseFile([['example.test_gadgets.yaml', GADGETS], ['example.test_widgets.yaml', WIDGETS]]));
    const crds = await findGatewayApiCrds({ ...offline(), variable: file });
    expect(crds.files).toEqual([
      { name: 'example.test_gadgets.yaml', text: GADGETS },
      { name: 'example.test_widgets.yaml', text: WIDGETS },
    ]);
  });

  test('naming a path without CRDs is an error, not a fall-through to the next place', async () => {
    const shared = join(tmp, 'shared/crds/gateway-api-v1.3.0-standard');
    mkdirSync(shared, { recursive: true });
    writeFileSync(join(shared, 'example.test_gadgets.yaml'), GADGETS);
    await expect(findGatewayApiCrds({ variable: join(tmp, 'nowhere'), repoRoot: join(tmp, 'repo') }))
      .rejects.toThrow(`GATEWAY_API_CRDS=${join(tmp, 'nowhere')}: no CustomResourceDefinition found there`);
  });
});

describe('without $GATEWAY_API_CRDS', () => {
  test('../shared/crds/gateway-api-v1.3.0-standard beside the repository comes next', async () => {
    const shared = join(tmp, 'shared/crds/gateway-api-v1.3.0-standard');
    mkdirSync(shared, { recursive: true });
    writeFileSync(join(shared, 'example.test_gadgets.yaml'), GADGETS);
    const crds = await findGatewayApiCrds(offline());
    expect(crds).toEqual({ source: 'shared', path: shared, files: [{ name: 'example.test_gadgets.yaml', text: GADGETS }] });
  });

  test('offline with nothing found: one error that says to set GATEWAY_API_CRDS and where it looked', async () => {
    const opts = offline();
    const err = await findGatewayApiCrds(opts).then(() => null, (e: Error) => e);
    expect(err?.message).toMatch(/^Gateway API v1\.3\.0 CRDs not found: set GATEWAY_API_CRDS to a directory of the Gateway API v1\.3\.0 standard CRD files/);
    expect(err?.message).toContain('https://github.com/kubernetes-sigs/gateway-api/releases/download/v1.3.0/standard-install.yaml');
    expect(err?.message).toContain(`${join(tmp, 'shared/crds/gateway-api-v1.3.0-standard')} does not exist`);
    expect(err?.message).toContain(`${join(opts.cacheDir, 'standard-install.yaml')} does not exist`);
    expect(err?.message).toContain(`downloading ${opts.url} failed: connect ECONNREFUSED 127.0.0.1`);
    expect(existsSync(opts.cacheDir)).toBe(false);
  });

  test('a download whose sha256 is not the pinned one is refused and not cached', async () => {
    const body = releaseFile([['example.test_widgets.yaml', WIDGETS]]);
    await serving(body, async (url) => {
      const opts = offline({ url });
      await expect(findGatewayApiCrds(opts)).rejects.toThrow(
        `downloading ${url} failed: the file has sha256 ${sha256(body)}, expected ${STANDARD_INSTALL_SHA256}`);
      expect(existsSync(join(opts.cacheDir, 'standard-install.yaml'))).toBe(false);
    });
  });

  test('a checked download goes into the cache, and the next lookup reads the cache without downloading', async () => {
    const body = releaseFile([['example.test_widgets.yaml', WIDGETS]]);
    const opts = await serving(body, async (url, hits) => {
      const o = offline({ url, sha256: sha256(body) });
      const crds = await findGatewayApiCrds(o);
      expect(crds.source).toBe('download');
      expect(crds.files).toEqual([{ name: 'example.test_widgets.yaml', text: WIDGETS }]);
      expect(readFileSync(join(o.cacheDir, 'standard-install.yaml'), 'utf8')).toBe(body);
      expect(hits()).toBe(1);
      return o;
    });
    const again = await findGatewayApiCrds({ ...opts, url: closedUrl });
    expect(again).toEqual({ source: 'cache', path: join(opts.cacheDir, 'standard-install.yaml'), files: [{ name: 'example.test_widgets.yaml', text: WIDGETS }] });
  });

  test('a cached file with another sha256 is not used', async () => {
    const opts = offline({ sha256: sha256('something else') });
    mkdirSync(opts.cacheDir);
    writeFileSync(join(opts.cacheDir, 'standard-install.yaml'), releaseFile([['example.test_widgets.yaml', WIDGETS]]));
    await expect(findGatewayApiCrds(opts)).rejects.toThrow(/standard-install\.yaml has sha256 [0-9a-f]{64}, not /);
  });
});

test('the CRDs this run uses are the v1.3.0 release, byte for byte: laid out as standard-install.yaml they have the pinned sha256', async () => {
  const crds = await findGatewayApiCrds();
  const rebuilt = crds.files.map((f) => [f.name, f.text] as const);
  expect(rebuilt.map(([name]) => name)).toEqual([
    'gateway.networking.k8s.io_gatewayclasses.yaml', 'gateway.networking.k8s.io_gateways.yaml',
    'gateway.networking.k8s.io_grpcroutes.yaml', 'gateway.networking.k8s.io_httproutes.yaml',
    'gateway.networking.k8s.io_referencegrants.yaml',
  ]);
  expect(sha256(releaseFile(rebuilt))).toBe(STANDARD_INSTALL_SHA256);
});

test('splitting ignores documents that are not CRDs', () => {
  expect(splitStandardInstall(`---\napiVersion: v1\nkind: Namespace\nmetadata: {name: x}\n---\n${WIDGETS}`).map((f) => f.name))
    .toEqual(['example.test_widgets.yaml']);
});
