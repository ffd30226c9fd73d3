// Keeps the last N lines of a stream (the worker's stderr) for error messages.

export class LineRingBuffer {
  private readonly lines: string[] = [];
  private partial = "";

  constructor(readonly capacity = 40) {}

  /** Appends a chunk of text; complete lines are kept, a trailing partial line waits for more. */
  write(chunk: string): string[] {
    const text = this.partial + chunk;
    const parts = text.split(/\r?\n/);
    this.partial = parts.pop() ?? "";
    for (const line of parts) this.push(line);
    return parts;
  }

  /** Flushes a trailing partial line (at end of stream). */
  end(): string[] {
    if (this.partial === "") return [];
    const line = this.partial;
    this.partial = "";
    this.push(line);
    return [line];
  }

  /** The kept lines, oldest first, plus the partial line if any; blank lines at the end dropped. */
  tail(n = this.capacity): string[] {
    const all = this.partial === "" ? [...this.lines] : [...this.lines, this.partial];
    while (all.length > 0 && all[all.length - 1]?.trim() === "") all.pop();
    return all.slice(-n);
  }

  private push(line: string): void {
    this.lines.push(line);
    if (this.lines.length > this.capacity) this.lines.shift();
  }
}
