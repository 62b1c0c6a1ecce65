// Where frames go. On a terminal, one frame redrawn in place (cursor moved back up over the last
// frame, lines cleared as they are rewritten), clipped to the terminal so nothing scrolls; elsewhere,
// frames one after another as plain text.

export interface Screen {
  /** Shows a frame, replacing the previous one where the screen can. */
  draw(lines: string[]): void;
  /** Leaves the last frame on screen and gives the cursor back; safe to call twice. */
  close(): void;
}

interface TerminalLike {
  write(s: string): unknown;
  rows?: number;
  columns?: number;
}

const ESC = '\x1b[';

/** Drops escape sequences, to measure what a line shows. */
function visible(s: string): string {
  return s.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '');
}

/** `line` cut to `columns` visible characters, keeping its escape sequences (colour resets included). */
export function clipLine(line: string, columns: number): string {
  if (visible(line).length <= columns) return line;
  let out = '';
  let shown = 0;
  for (let i = 0; i < line.length; ) {
    const m = /^\x1b\[[0-9;?]*[A-Za-z]/.exec(line.slice(i));
    if (m) {
      out += m[0];
      i += m[0].length;
    } else {
      if (shown < columns) out += line[i];
      shown++;
      i++;
    }
  }
  return out;
}

export function liveScreen(term: TerminalLike): Screen {
  let drawn = 0;
  let closed = false;
  term.write(`${ESC}?25l`);
  return {
    draw(lines) {
      if (closed) return;
      const rows = Math.max(1, (term.rows ?? 24) - 1);
      const columns = Math.max(20, (term.columns ?? 80) - 1);
      const shown = lines.slice(0, rows).map((l) => clipLine(l, columns));
      const up = drawn > 0 ? `${ESC}${drawn}F` : '';
      term.write(up + shown.map((l) => `${l}${ESC}K\n`).join('') + `${ESC}J`);
      drawn = shown.length;
    },
    close() {
      if (closed) return;
      closed = true;
      term.write(`${ESC}?25h`);
    },
  };
}

export function plainScreen(write: (s: string) => void): Screen {
  return {
    draw(lines) {
      write(lines.join('\n') + '\n\n');
    },
    close() {},
  };
}
