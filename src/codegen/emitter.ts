// Line-by-line C emission for one function: indentation, temporaries, blocks captured for
// conditional code, and slots of the per-CPU scratch area.

export class Emitter {
  lines: string[] = [];
  indent = 1;
  private tmp = 0;
  /** Bytes of scratch area used so far. */
  scratch = 0;
  /** Largest memory cleared or copied from the zero area (KT_ZERO_SIZE must cover it). */
  zeroSize = 8;

  emit(line: string): void {
    this.lines.push('  '.repeat(this.indent) + line);
  }

  block(fn: () => void): void {
    this.indent++;
    fn();
    this.indent--;
  }

  /** Runs `fn` collecting its statements separately: for code that must only run conditionally. */
  capture<T>(fn: () => T): { lines: string[]; value: T } {
    const saved = this.lines;
    const savedIndent = this.indent;
    this.lines = [];
    this.indent = 0;
    const value = fn();
    const lines = this.lines;
    this.lines = saved;
    this.indent = savedIndent;
    return { lines, value };
  }

  emitCaptured(lines: string[]): void {
    for (const l of lines) this.emit(l);
  }

  temp(): string {
    return `t${this.tmp++}`;
  }

  /** A slot of `size` bytes in the scratch area, 8-aligned. */
  alloc(size: number): number {
    const at = this.scratch;
    this.scratch += Math.ceil(Math.max(size, 1) / 8) * 8;
    return at;
  }

  zeroCheck(size: number): number {
    this.zeroSize = Math.max(this.zeroSize, size);
    return size;
  }
}
