// Attach-point wildcards: `*`, `?` and `{a,b}` alternatives, as bpftrace accepts them.

export function hasWildcard(text: string): boolean {
  return /[*?{]/.test(text);
}

function escape(ch: string): string {
  return /[\\^$.|+()[\]{}*?]/.test(ch) ? `\\${ch}` : ch;
}

/** A regular expression matching the whole of a name against a glob. */
export function globToRegExp(glob: string): RegExp {
  let re = '';
  let depth = 0;
  for (const ch of glob) {
    if (ch === '*') re += '.*';
    else if (ch === '?') re += '.';
    else if (ch === '{') {
      re += '(?:';
      depth++;
    } else if (ch === '}' && depth > 0) {
      re += ')';
      depth--;
    } else if (ch === ',' && depth > 0) re += '|';
    else re += escape(ch);
  }
  re += ')'.repeat(depth);
  return new RegExp(`^${re}$`);
}
