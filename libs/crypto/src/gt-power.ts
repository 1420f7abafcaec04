import { mcl } from './mcl';

/**
 * Fixed-base exponentiation in GT for g_j = e(Y_Rj, Ypub2), the base a meter raises to its fresh d
 * for every receiver (U_j = g_j^d). mcl's generic GT power costs about 1.1 ms; with a table of
 * g^(b * 256^i) for the 32 byte positions i of the exponent and every byte value b, a power is at most
 * 31 multiplications (about 0.5 ms here). The table holds 32 * 255 GT elements (about 5 MB) and takes
 * about 125 ms to build, so it is built only for a base that is used repeatedly (see ReceiverPublicKey)
 * and shared by every meter of the process that sends to that receiver.
 *
 * Not constant-time, like mcl's own GT power: the meter's d is short-lived (one report or one epoch).
 */
export class FixedBaseGT {
  private readonly rows: mcl.GT[][] = [];

  constructor(base: mcl.GT) {
    let b = base;
    for (let i = 0; i < 32; i++) {
      const row: mcl.GT[] = new Array<mcl.GT>(256);
      row[1] = b;
      for (let v = 2; v < 256; v++) {
        row[v] = mcl.mul(row[v - 1] as mcl.GT, b);
      }
      this.rows.push(row);
      b = mcl.mul(row[255] as mcl.GT, b);
    }
  }

  pow(exponent: mcl.Fr): mcl.GT {
    const bytes = exponent.serialize(); // 32 bytes, big-endian
    let acc: mcl.GT | undefined;
    for (let i = 0; i < 32; i++) {
      const digit = bytes[31 - i] ?? 0;
      if (digit !== 0) {
        const entry = this.rows[i]?.[digit] as mcl.GT;
        acc = acc === undefined ? entry : mcl.mul(acc, entry);
      }
    }
    if (acc === undefined) {
      const one = new mcl.GT();
      one.setInt(1);
      return one;
    }
    return acc;
  }
}
