/**
 * The YAML of agentway's manifests: js-yaml's block style, with every string a YAML 1.1 reader would take for
 * a number quoted. Most documents are written by a small writer that lays them out exactly as js-yaml's
 * `dump` does; whatever it does not handle goes to `dump` itself.
 */
import { DEFAULT_SCHEMA, Type, dump } from 'js-yaml';

/**
 * What a YAML 1.1 reader may take for a number, with `_` removed first (YAML 1.1 and the go-yaml of
 * kubectl and Argo CD allow `_` between digits: `1_000`, `0x_1F`): decimal, float, exponent (`e5`),
 * prefixed (`0b`, `0o`, `0x`) and base-60 (`1:20`) forms, signs and lone dots included.
 */
const YAML11_NUMBER = /^[-+]?(?:[0-9]*(?:\.[0-9]*)?(?:[eE][-+]?[0-9]+)?|0[bBoOxX][0-9a-fA-F]*|[0-9]+(?::[0-5]?[0-9])+(?:\.[0-9]*)?)$/;

/**
 * js-yaml writes YAML 1.2 and leaves plain the strings that only YAML 1.1 reads as numbers. Dumping with
 * this type as an implicit one makes js-yaml quote every string that a YAML 1.1 reader would take for a
 * number, so that every reader gets the string back.
 */
const YAML11_ONLY_NUMBER = new Type('tag:agentway.dev,2026:yaml11-number', {
  kind: 'scalar',
  resolve: (s: string) => YAML11_NUMBER.test(s.includes('_') ? s.replace(/_/g, '') : s),
  construct: (s: string) => s,
});
const OUTPUT_SCHEMA = DEFAULT_SCHEMA.extend({ implicit: [YAML11_ONLY_NUMBER] });

/** One document as js-yaml writes it: block style, no line folding, no anchors. */
export function dumpWithJsYaml(value: unknown): string {
  return dump(value, { lineWidth: -1, noRefs: true, schema: OUTPUT_SCHEMA });
}

/**
 * YAML of a list of objects, one document each, read back as the same values by YAML 1.2 and YAML 1.1
 * parsers, and byte for byte what `dumpWithJsYaml` writes.
 */
export function toYaml(objects: readonly unknown[]): string {
  return objects.map(dumpDocument).join('---\n');
}

// ---------------------------------------------------------------------------------------------------------
// The writer. It follows js-yaml's dumper (lib/dumper.js: writeNode, writeBlockMapping, writeBlockSequence,
// writeScalar with lineWidth -1) for the values render produces: plain objects, arrays, strings on one line
// of printable characters, integers, booleans and null. Anything else (a string with a line break or a
// character js-yaml escapes, a fraction, a Date, a key longer than 1,024 characters) gives the whole
// document to js-yaml. test/unit/yaml.test.ts compares the two on every example and on generated values.

/** Thrown inside the writer when a value is one it leaves to js-yaml. */
const HANDS_OVER = Symbol('hands over to js-yaml');

/**
 * The implicit types js-yaml tests a string against before writing it plain (`true`, `1e3`, `~`, a date,
 * `<<`, and the YAML 1.1 numbers above). Undefined if this js-yaml keeps them elsewhere: then every
 * document goes to js-yaml.
 */
const IMPLICIT_TYPES = ((): readonly { resolve(s: string): boolean }[] | undefined => {
  const list = (OUTPUT_SCHEMA as unknown as { compiledImplicit?: unknown }).compiledImplicit;
  return Array.isArray(list) && list.length > 0 && list.every((t) => typeof t?.resolve === 'function') ? list : undefined;
})();

/** Strings js-yaml single-quotes before anything else, for YAML 1.1 readers (dumper.js, noCompatMode off). */
const DEPRECATED_BOOLEANS = new Set(['y', 'Y', 'yes', 'Yes', 'YES', 'on', 'On', 'ON', 'n', 'N', 'no', 'No', 'NO', 'off', 'Off', 'OFF']);
const DEPRECATED_BASE60 = /^[-+]?[0-9_]+(?::[0-9_]+)+(?:\.[0-9_]*)?$/;

/** Characters that may not start a plain scalar (c-indicator, less the ones allowed there). */
const NOT_PLAIN_FIRST = new Set([...'-?:,[]{}#&*!|=>\'"%@`'].map((c) => c.charCodeAt(0)));
const SPACE = 0x20;
const COLON = 0x3a;
const SHARP = 0x23;

/** Scalars already written, by string: most strings of a synth (labels, kinds, ports' names) recur. */
const scalars = new Map<string, string>();
const MAX_CACHED = 50_000;

/**
 * A string as js-yaml writes it on one line: plain, or single-quoted when plain would read back as another
 * type or is not allowed. Throws HANDS_OVER for what js-yaml would write double-quoted or as a block.
 */
function scalar(s: string): string {
  const known = scalars.get(s);
  if (known !== undefined) return known;
  const written = chooseScalar(s);
  if (scalars.size >= MAX_CACHED) scalars.clear();
  scalars.set(s, written);
  return written;
}

function chooseScalar(s: string): string {
  if (s.length === 0) return "''";
  if (DEPRECATED_BOOLEANS.has(s) || DEPRECATED_BASE60.test(s)) return `'${s}'`;
  let plain = !NOT_PLAIN_FIRST.has(s.charCodeAt(0));
  let prev = -1;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    // Printable and below the surrogates: no escapes, no line breaks, one UTF-16 unit per character.
    if (c < SPACE || (c >= 0x7f && c <= 0xa0) || c >= 0xd800 || c === 0x2028 || c === 0x2029) throw HANDS_OVER;
    // ns-plain-char: no `#` after a space, no space after `:`.
    if ((c === SHARP && prev === SPACE) || (c === SPACE && prev === COLON)) plain = false;
    prev = c;
  }
  const first = s.charCodeAt(0);
  const last = s.charCodeAt(s.length - 1);
  if (first === SPACE || last === SPACE || last === COLON) plain = false;
  if (plain && !IMPLICIT_TYPES!.some((t) => t.resolve(s))) return s;
  return `'${s.replace(/'/g, "''")}'`;
}

const indents: string[] = [];
function newLine(level: number): string {
  return (indents[level] ??= `\n${'  '.repeat(level)}`);
}

function isPlainObject(v: object): v is Record<string, unknown> {
  const proto = Object.getPrototypeOf(v);
  return (proto === Object.prototype || proto === null) && Object.prototype.toString.call(v) === '[object Object]';
}

/** writeNode of js-yaml in block context; undefined for undefined, which a mapping leaves out. */
function node(v: unknown, level: number, compact: boolean): string | undefined {
  switch (typeof v) {
    case 'string': return scalar(v);
    case 'number':
      if (Number.isInteger(v) && !Object.is(v, -0)) return String(v);
      throw HANDS_OVER;
    case 'boolean': return v ? 'true' : 'false';
    case 'undefined': return undefined;
    case 'object':
      if (v === null) return 'null';
      if (Array.isArray(v)) return v.length === 0 ? '[]' : sequence(v, level, compact);
      if (isPlainObject(v)) return mapping(v, level, compact);
      throw HANDS_OVER;
    default: throw HANDS_OVER;
  }
}

function mapping(o: Record<string, unknown>, level: number, compact: boolean): string {
  const keys = Object.keys(o);
  if (keys.length === 0) return '{}';
  let out = '';
  for (const key of keys) {
    const k = scalar(key);
    if (k.length > 1024) throw HANDS_OVER; // js-yaml writes an explicit `? key`
    const value = node(o[key], level + 1, false);
    if (value === undefined) continue;
    if (!compact || out !== '') out += newLine(level);
    out += k;
    out += value.charCodeAt(0) === 0x0a ? ':' : ': ';
    out += value;
  }
  return out || '{}';
}

function sequence(a: readonly unknown[], level: number, compact: boolean): string {
  let out = '';
  for (let i = 0; i < a.length; i++) {
    const item = node(a[i], level + 1, true) ?? 'null';
    if (!compact || out !== '') out += newLine(level);
    out += item.charCodeAt(0) === 0x0a ? '-' : '- ';
    out += item;
  }
  return out;
}

/**
 * One document as `dumpWithJsYaml` writes it, by the writer above; undefined when the document holds a value
 * the writer leaves to js-yaml.
 */
export function writeYaml(value: unknown): string | undefined {
  if (!IMPLICIT_TYPES) return undefined;
  try {
    const text = node(value, 0, true);
    return text === undefined ? '' : `${text}\n`;
  } catch (err) {
    if (err === HANDS_OVER) return undefined;
    throw err;
  }
}

function dumpDocument(value: unknown): string {
  return writeYaml(value) ?? dumpWithJsYaml(value);
}
