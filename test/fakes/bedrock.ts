/**
 * A fake Bedrock runtime: verifies the SigV4 signature of each request by signing the same request again
 * with the same signer (@smithy/signature-v4) and the credentials it knows, as AWS does (403 on mismatch),
 * checks the body is Converse-shaped, and answers Converse JSON or a binary event stream.
 */
import { EventStreamCodec } from '@smithy/eventstream-codec';
import { fromUtf8, toUtf8 } from '@smithy/util-utf8';
import { ServerResponse } from 'node:http';
import { AwsCredentials, BEDROCK_SERVICE, bedrockSigner } from '../../controller/router/providers/bedrock.js';
import { Behaviour, FakeServer, RecordedRequest, sendJson, sleep, startFake, words } from './fake-server.js';

const codec = new EventStreamCodec(toUtf8, fromUtf8);
const PATH = /^\/model\/([^/]+)\/(converse|converse-stream)$/;
const AUTH = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, SignedHeaders=([^,]+), Signature=([0-9a-f]{64})$/;

function error(res: ServerResponse, status: number, type: string, message: string): void {
  sendJson(res, status, { message }, { 'x-amzn-errortype': type });
}

function amzDate(v: string): Date | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(v);
  return m ? new Date(Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6])) : undefined;
}

/** Undefined when the request carries a valid signature by `creds` for `region`, else why not. */
export async function signatureProblem(req: RecordedRequest, region: string, creds: AwsCredentials): Promise<string | undefined> {
  const auth = String(req.headers.authorization ?? '');
  const m = AUTH.exec(auth);
  if (!m) return 'missing or malformed Authorization header';
  const [, keyId, , scopeRegion, service, signedHeaders] = m;
  if (keyId !== creds.accessKeyId) return 'The security token included in the request is invalid.';
  if (scopeRegion !== region || service !== BEDROCK_SERVICE) return `credential scope ${scopeRegion}/${service} is not ${region}/${BEDROCK_SERVICE}`;
  const date = amzDate(String(req.headers['x-amz-date'] ?? ''));
  if (!date) return 'missing x-amz-date';
  const headers: Record<string, string> = {};
  for (const name of signedHeaders.split(';')) {
    const v = req.headers[name];
    if (v === undefined) return `signed header ${name} is missing`;
    headers[name] = Array.isArray(v) ? v.join(',') : v;
  }
  const host = headers.host ?? '';
  const [hostname, port] = host.split(':');
  const expected = await bedrockSigner(region, creds).sign({
    method: req.method, protocol: 'http:', hostname, ...(port ? { port: Number(port) } : {}),
    path: req.path.split('?')[0], query: {}, headers, body: req.body.toString('utf8'),
  }, { signingDate: date });
  const got = expected.headers.authorization ?? expected.headers.Authorization;
  return got === auth ? undefined : 'The request signature we calculated does not match the signature you provided.';
}

/** Why a body is not a Converse body, or undefined when it is one. */
export function converseShapeProblem(body: Record<string, any>): string | undefined {
  const allowed = new Set(['messages', 'system', 'inferenceConfig', 'toolConfig', 'additionalModelRequestFields', 'guardrailConfig']);
  for (const k of Object.keys(body)) if (!allowed.has(k)) return `Malformed input request: extraneous key [${k}] is not permitted`;
  if (!Array.isArray(body.messages)) return 'Malformed input request: messages is required';
  for (const m of body.messages) {
    if (m?.role !== 'user' && m?.role !== 'assistant') return `Malformed input request: role ${m?.role} is not permitted`;
    if (!Array.isArray(m.content)) return 'Malformed input request: content must be a list of content blocks';
    for (const c of m.content) if (c?.type !== undefined) return 'Malformed input request: extraneous key [type] is not permitted';
  }
  return undefined;
}

function event(type: string, payload: unknown): Uint8Array {
  return codec.encode({
    headers: {
      ':message-type': { type: 'string', value: 'event' },
      ':event-type': { type: 'string', value: type },
      ':content-type': { type: 'string', value: 'application/json' },
    },
    body: fromUtf8(JSON.stringify(payload)),
  });
}

function exception(type: string, message: string): Uint8Array {
  return codec.encode({
    headers: {
      ':message-type': { type: 'string', value: 'exception' },
      ':exception-type': { type: 'string', value: type },
      ':content-type': { type: 'string', value: 'application/json' },
    },
    body: fromUtf8(JSON.stringify({ message })),
  });
}

async function stream(res: ServerResponse, b: Behaviour, usage: Record<string, number>): Promise<void> {
  res.writeHead(200, { 'content-type': 'application/vnd.amazon.eventstream' });
  res.write(event('messageStart', { role: 'assistant' }));
  if (b.cutAfterFirstEvent) { res.destroy(); return; }
  for (const w of words(b.reply ?? 'Hello from the fake Bedrock.')) {
    res.write(event('contentBlockDelta', { contentBlockIndex: 0, delta: { text: w } }));
    if (b.eventGapMs) await sleep(b.eventGapMs);
  }
  res.write(event('contentBlockStop', { contentBlockIndex: 0 }));
  res.write(event('messageStop', { stopReason: 'end_turn' }));
  res.end(event('metadata', { usage, metrics: { latencyMs: 1 } }));
}

export interface FakeBedrockOptions {
  readonly region: string;
  readonly credentials: AwsCredentials;
  /** Send a throttlingException inside the event stream instead of an answer. */
  readonly throttleInStream?: boolean;
}

async function handle(opts: FakeBedrockOptions, req: RecordedRequest, res: ServerResponse, b: Behaviour): Promise<void> {
  const path = PATH.exec(req.path);
  if (req.method !== 'POST' || !path) return error(res, 404, 'UnknownOperationException', `no route ${req.method} ${req.path}`);
  const problem = await signatureProblem(req, opts.region, opts.credentials);
  if (problem) return error(res, 403, 'UnrecognizedClientException', problem);
  if (b.failWith) return error(res, b.failWith, b.failWith === 429 ? 'ThrottlingException' : 'ServiceUnavailableException', `fake failure ${b.failWith}`);
  let body: Record<string, any>;
  try {
    body = JSON.parse(req.body.toString('utf8'));
  } catch {
    return error(res, 400, 'ValidationException', 'Malformed input request: not JSON');
  }
  const shape = converseShapeProblem(body);
  if (shape) return error(res, 400, 'ValidationException', shape);
  const input = b.inputTokens ?? 11;
  const output = b.outputTokens ?? 6;
  const usage = { inputTokens: input, outputTokens: output, totalTokens: input + output };
  if (path[2] === 'converse-stream') {
    if (opts.throttleInStream) {
      res.writeHead(200, { 'content-type': 'application/vnd.amazon.eventstream' });
      res.end(exception('throttlingException', 'Too many requests, please wait before trying again.'));
      return;
    }
    return stream(res, b, usage);
  }
  sendJson(res, 200, {
    output: { message: { role: 'assistant', content: [{ text: b.reply ?? 'Hello from the fake Bedrock.' }] } },
    stopReason: 'end_turn', usage, metrics: { latencyMs: 1 },
  });
}

export function startFakeBedrock(opts: FakeBedrockOptions): Promise<FakeServer> {
  return startFake((req, res, b) => handle(opts, req, res, b));
}

/** Decodes an event-stream body into its messages' event types and JSON payloads (for tests). */
export function decodeEventStream(bytes: Buffer): Array<{ type: string; payload: unknown }> {
  const out: Array<{ type: string; payload: unknown }> = [];
  let rest = bytes;
  while (rest.length >= 4) {
    const total = rest.readUInt32BE(0);
    const msg = codec.decode(rest.subarray(0, total));
    out.push({ type: String(msg.headers[':event-type']?.value ?? msg.headers[':exception-type']?.value), payload: JSON.parse(toUtf8(msg.body)) });
    rest = rest.subarray(total);
  }
  return out;
}
