// Scans one attach point (`uprobe:/bin/bash:readline`, `t:syscalls:sys_enter_*`, `BEGIN`) at the top
// level of a script. Attach points are not made of expression tokens: paths hold `/` and `.`, offsets
// hold `+`, events hold `-`, and wildcards hold `*`, `?` and `{a,b}`; so they are one token each.

export interface AttachPayload {
  provider: string;
  /** The parts after the provider, split on `:`, quoted parts unquoted. */
  parts: string[];
  /** Set when a quoted part has no closing quote. */
  unterminatedQuote?: number;
}

type AttachMatch = [string] & { payload: AttachPayload };

// `$N` (a positional parameter) may stand for part of a provider: `BEG$1`; the front end substitutes it.
const providerRe = /[A-Za-z_][A-Za-z0-9_]*(?:\$\d+[A-Za-z0-9_]*)*/y;
// Characters that end an unquoted part (besides `/`, which is special, and `{`, see below).
const partEnd = new Set([' ', '\t', '\n', '\r', '\f', '\v', ':', ',', '{', '}', ';', '"']);
// `{a,b}` alternatives inside a part: no spaces, at least one comma, only name characters.
const alternativesRe = /\{[A-Za-z0-9_*?.+\-]+(?:,[A-Za-z0-9_*?.+\-]+)+\}/y;

/** Scans an unquoted part from `start`; `slashes` says whether `/` belongs to the part. */
function scanPart(text: string, start: number, slashes: boolean): number {
  let i = start;
  while (i < text.length) {
    const c = text[i]!;
    if (c === '{') {
      alternativesRe.lastIndex = i;
      if (i > start && alternativesRe.test(text)) {
        i = alternativesRe.lastIndex;
        continue;
      }
      break;
    }
    if (partEnd.has(c) || (!slashes && c === '/')) break;
    i++;
  }
  return i;
}

/** Decodes a quoted part starting at the opening quote; returns its value and end offset. */
function scanQuoted(text: string, start: number): { value: string; end: number; closed: boolean } {
  let value = '';
  let i = start + 1;
  while (i < text.length) {
    const c = text[i]!;
    if (c === '"') return { value, end: i + 1, closed: true };
    if (c === '\n') break;
    if (c === '\\' && i + 1 < text.length && text[i + 1] !== '\n') {
      value += text[i + 1];
      i += 2;
      continue;
    }
    value += c;
    i++;
  }
  return { value, end: i, closed: false };
}

/**
 * Chevrotain custom pattern: matches an attach point at `offset`. A part may hold `/` only when more
 * parts follow it (a path), so that `uprobe:/bin/bash:readline/pid == 1/` ends before the predicate.
 */
export function matchAttachPoint(text: string, offset: number): AttachMatch | null {
  providerRe.lastIndex = offset;
  const m = providerRe.exec(text);
  if (!m) return null;
  const provider = m[0];
  const parts: string[] = [];
  let unterminatedQuote: number | undefined;
  let i = offset + provider.length;
  while (text[i] === ':') {
    i++;
    if (text[i] === '"') {
      const q = scanQuoted(text, i);
      if (!q.closed) unterminatedQuote ??= i;
      // A quoted function may take an offset after its quote, as in bpftrace: `"func"+16`.
      const offset = q.closed ? /\+(?:0x[0-9a-fA-F]+|\d+)/y : undefined;
      if (offset) offset.lastIndex = q.end;
      const plus = offset?.exec(text)?.[0] ?? '';
      parts.push(q.value + plus);
      i = q.end + plus.length;
      continue;
    }
    let end = scanPart(text, i, true);
    if (text[end] !== ':') end = scanPart(text, i, false);
    parts.push(text.slice(i, end));
    i = end;
  }
  const image = text.slice(offset, i);
  const payload: AttachPayload = { provider, parts };
  if (unterminatedQuote !== undefined) payload.unterminatedQuote = unterminatedQuote;
  return Object.assign([image] as [string], { payload });
}

const cDefinitionRe = /(?:struct|union|enum)\s+[A-Za-z_][A-Za-z0-9_]*\s*\{/y;

/**
 * Chevrotain custom pattern: a C definition at the top level (`struct Foo { int x; }`), kept for the
 * preamble like bpftrace does. Braces are balanced; a trailing `;` belongs to it.
 */
export function matchCDefinition(text: string, offset: number): [string] | null {
  cDefinitionRe.lastIndex = offset;
  if (!cDefinitionRe.test(text)) return null;
  let depth = 0;
  let i = offset;
  for (; i < text.length; i++) {
    const c = text[i];
    if (c === '{') depth++;
    else if (c === '}' && --depth === 0) break;
  }
  if (depth !== 0) return null;
  i++;
  const semi = /\s*;/y;
  semi.lastIndex = i;
  if (semi.test(text)) i = semi.lastIndex;
  return [text.slice(offset, i)];
}
