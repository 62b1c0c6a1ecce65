// JSON string escaping exactly as bpftrace's JsonOutput::json_escape does it: `"`, `\`, \n, \r, \t
// escaped by name, other control characters as \u00XX, everything else (UTF-8 included) as-is.
export function jsonEscape(s: string): string {
  let out = '';
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    if (ch === '"') out += '\\"';
    else if (ch === '\\') out += '\\\\';
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else if (c <= 0x1f) out += '\\u' + c.toString(16).padStart(4, '0');
    else out += ch;
  }
  return out;
}

export function jsonString(s: string): string {
  return '"' + jsonEscape(s) + '"';
}
