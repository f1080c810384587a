/**
 * Where `byte` first is in `bytes` from `from` on, or -1: Uint8Array's own indexOf, a V8 builtin.
 * Buffer#indexOf is a JavaScript wrapper that validates its arguments through closures: until V8
 * optimizes it, and never under the daemon's --lite-mode, every call allocates (one per line here).
 */
const byteIndexOf = Function.prototype.call.bind(Uint8Array.prototype.indexOf) as (bytes: Uint8Array, byte: number, from: number) => number;

/**
 * Cuts a byte stream into lines as its chunks arrive, so a large answer (`show stat` or a peer's stats
 * page: MBs at thousands of Servers) is never held whole nor decoded into one big string. Each line is
 * handed over without its '\n', as a view valid only during the call.
 */
const NEWLINE = 0x0a;

export class LineSplitter {
  /** The start of a line whose end is in a later chunk. */
  private carry: Buffer | undefined;

  constructor(private readonly onLine: (line: Buffer) => void) {}

  push(chunk: Buffer): void {
    let start = 0;
    let nl = byteIndexOf(chunk, NEWLINE, 0);
    if (this.carry !== undefined && nl >= 0) {
      this.onLine(Buffer.concat([this.carry, chunk.subarray(0, nl)]));
      this.carry = undefined;
      start = nl + 1;
      nl = byteIndexOf(chunk, NEWLINE, start);
    }
    for (; nl >= 0; start = nl + 1, nl = byteIndexOf(chunk, NEWLINE, start)) this.onLine(chunk.subarray(start, nl));
    if (start < chunk.length) this.carry = this.carry === undefined ? chunk.subarray(start) : Buffer.concat([this.carry, chunk]);
  }

  /** The stream ended: a last line without '\n' is a line too. */
  end(): void {
    const last = this.carry;
    this.carry = undefined;
    if (last !== undefined) this.onLine(last);
  }
}
