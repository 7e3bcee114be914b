/**
 * Per-client limits in memory (DESIGN §9): requests and tokens per minute, reservations settled on real usage,
 * and no overshoot under concurrency. The same limiter over a real Redis is tested in
 * test/integration/policy-redis.test.ts.
 */
import { isPolicyError } from '../../controller/router/policy/errors.js';
import { Client } from '../../controller/router/policy/keys.js';
import { ClientLimiter, Reservation, reservationTokens, tokenEstimate } from '../../controller/router/policy/limits.js';

let n = 0;
const client = (limits: Client['limits']): Client => ({ id: `ns/access/c${++n}`, access: 'ns/access', dataClass: 'internal', limits });
const admitted = (rs: Array<Reservation | unknown>) => rs.filter((r) => !isPolicyError(r)).length;

describe('reservation size', () => {
  test('max_tokens (or max_completion_tokens) plus the prompt at four bytes a token', () => {
    const messages = [{ role: 'user', content: 'x'.repeat(400) }];
    const promptTokens = Math.ceil(Buffer.byteLength(JSON.stringify(messages)) / 4);
    expect(tokenEstimate({ messages, max_tokens: 50 }, 1024)).toEqual({ prompt: promptTokens, completion: 50 });
    expect(reservationTokens({ messages, max_completion_tokens: 70, max_tokens: 50 }, 1024)).toBe(promptTokens + 70);
    expect(reservationTokens({ messages }, 1024)).toBe(promptTokens + 1024);
  });
});

describe('ClientLimiter in memory', () => {
  test('requests per minute: the fourth of three is refused with 429 and Retry-After', async () => {
    const l = new ClientLimiter();
    const c = client({ requestsPerMinute: 3 });
    for (let i = 0; i < 3; i++) expect(isPolicyError(await l.reserve(c, 10))).toBe(false);
    const r = await l.reserve(c, 10);
    expect(isPolicyError(r) && [r.status, r.code]).toEqual([429, 'rate_limit_exceeded']);
    expect(isPolicyError(r) && Number(r.headers?.['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(isPolicyError(r) && Number(r.headers?.['retry-after'])).toBeLessThanOrEqual(60);
  });

  test('clients are counted apart', async () => {
    const l = new ClientLimiter();
    const a = client({ requestsPerMinute: 1 });
    const b = client({ requestsPerMinute: 1 });
    expect(isPolicyError(await l.reserve(a, 1))).toBe(false);
    expect(isPolicyError(await l.reserve(b, 1))).toBe(false);
    expect(isPolicyError(await l.reserve(a, 1))).toBe(true);
  });

  test('50 concurrent reservations of 100 tokens under a limit of 1,000: exactly 10 pass', async () => {
    const l = new ClientLimiter();
    const c = client({ tokensPerMinute: 1000 });
    const results = await Promise.all(Array.from({ length: 50 }, () => l.reserve(c, 100)));
    expect(admitted(results)).toBe(10);
    expect(results.filter(isPolicyError).every((e) => e.code === 'token_limit_exceeded' && e.status === 429)).toBe(true);
  });

  test('settling on less usage gives the rest back; on more, takes the difference', async () => {
    const l = new ClientLimiter();
    const c = client({ tokensPerMinute: 1000 });
    const r = await l.reserve(c, 600) as Reservation;
    await l.settle(r, 100);
    expect(isPolicyError(await l.reserve(c, 800))).toBe(false); // 100 + 800
    const d = client({ tokensPerMinute: 1000 });
    const s = await l.reserve(d, 100) as Reservation;
    await l.settle(s, 900);
    expect(isPolicyError(await l.reserve(d, 200))).toBe(true); // 900 + 200 > 1000
    expect(isPolicyError(await l.reserve(d, 100))).toBe(false);
  });

  test('a refused reservation costs nothing: neither its tokens nor its request', async () => {
    const l = new ClientLimiter();
    const c = client({ tokensPerMinute: 1000, requestsPerMinute: 3 });
    expect(isPolicyError(await l.reserve(c, 800))).toBe(false);
    expect(isPolicyError(await l.reserve(c, 500))).toBe(true);
    expect(isPolicyError(await l.reserve(c, 200))).toBe(false); // tokens: the refused 500 were given back
    expect(isPolicyError(await l.reserve(c, 0))).toBe(true);    // tokens full (1000)
    const e = client({ requestsPerMinute: 2, tokensPerMinute: 100 });
    expect(isPolicyError(await l.reserve(e, 100))).toBe(false);
    expect(isPolicyError(await l.reserve(e, 50))).toBe(true);   // refused by tokens: its request is given back
    const last = await l.reserve({ ...e, limits: { requestsPerMinute: 2 } }, 1);
    expect(isPolicyError(last)).toBe(false);                     // so the second request still fits
  });

  test('a reservation larger than the whole limit is cut to the limit', async () => {
    const l = new ClientLimiter();
    const c = client({ tokensPerMinute: 500 });
    const r = await l.reserve(c, 4096);
    expect(isPolicyError(r) ? r.code : (r as Reservation).tokens).toBe(500);
    expect(isPolicyError(await l.reserve(c, 1))).toBe(true);
  });

  test('no refund after the window it came from has ended', async () => {
    let now = 1_000_000;
    const l = new ClientLimiter({ clock: () => now });
    const c = client({ tokensPerMinute: 1000 });
    const r = await l.reserve(c, 900) as Reservation;
    now = r.windowEnds;
    await l.settle(r, 0);
    // The in-memory store keeps real time; the refund was skipped, so 900 are still counted in this window.
    expect(isPolicyError(await l.reserve(c, 200))).toBe(true);
  });

  test('no limits → no counting', async () => {
    const l = new ClientLimiter();
    const c = client(undefined);
    const results = await Promise.all(Array.from({ length: 100 }, () => l.reserve(c, 1e6)));
    expect(admitted(results)).toBe(100);
  });
});
