// Where REPL input stands: whether a typed block is complete (its braces balance outside strings and
// comments), and which probe block the cursor is in (for completion of `args.` fields).
import { parse } from '../frontend/parse.js';

interface InputState {
  /** Unclosed `{` outside strings and comments. */
  depth: number;
  /** Inside a string literal or a block comment at the end of the text. */
  open: boolean;
  /** Offset just after the last top-level `}`: where the probe being typed starts. */
  probeStart: number;
  /** Offset of the `{` that opened the outermost unclosed block, or -1. */
  blockStart: number;
}

export function scanInput(text: string): InputState {
  let depth = 0;
  let probeStart = 0;
  let blockStart = -1;
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    const next = text[i + 1];
    if (c === '"') {
      i++;
      while (i < text.length && text[i] !== '"') i += text[i] === '\\' ? 2 : 1;
      if (i >= text.length) return { depth, open: true, probeStart, blockStart };
    } else if (c === '/' && next === '/') {
      while (i < text.length && text[i] !== '\n') i++;
    } else if (c === '/' && next === '*') {
      const end = text.indexOf('*/', i + 2);
      if (end < 0) return { depth, open: true, probeStart, blockStart };
      i = end + 1;
    } else if (c === '{') {
      if (depth === 0) blockStart = i;
      depth++;
    } else if (c === '}' && depth > 0) {
      depth--;
      if (depth === 0) {
        probeStart = i + 1;
        blockStart = -1;
      }
    }
    i++;
  }
  return { depth, open: false, probeStart, blockStart };
}

/**
 * Whether the text is a whole input: braces balanced, no string or comment left open, and nothing
 * the parser still waits for (attach points typed on a line of their own, before the `{`).
 */
export function isCompleteInput(text: string): boolean {
  const s = scanInput(text);
  if (s.depth > 0 || s.open) return false;
  return !parse(text, 'repl').diagnostics.some((d) => d.severity === 'error' && d.message.includes('the end of the input'));
}

/** The attach points of the probe block the end of `text` is inside, or [] when outside a block. */
export function enclosingAttachPoints(text: string): string[] {
  const s = scanInput(text);
  if (s.depth === 0 || s.blockStart < 0) return [];
  const head = text.slice(s.probeStart, s.blockStart).replace(/\/\/[^\n]*/g, '');
  // A predicate `/ ... /` follows the attach points; it starts at the first `/` after a space.
  const spec = head.replace(/\s\/[\s\S]*$/, '');
  return spec
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p.length > 0);
}
