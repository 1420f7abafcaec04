const integer = new Intl.NumberFormat('en-GB', { maximumFractionDigits: 0 });
const decimal = new Intl.NumberFormat('en-GB', { maximumFractionDigits: 1 });

export function count(value: number | string | bigint): string {
  return integer.format(typeof value === 'string' ? BigInt(value) : value);
}

export function rate(value: number): string {
  return decimal.format(value);
}

/** "12 s ago", "4 min ago", "3 h ago", or the date for anything older than a day. */
export function ago(at: string | number, now = Date.now()): string {
  const time = typeof at === 'number' ? at : Date.parse(at);
  const seconds = Math.max(0, Math.round((now - time) / 1000));
  if (seconds < 60) {
    return `${seconds} s ago`;
  }
  if (seconds < 3600) {
    return `${Math.floor(seconds / 60)} min ago`;
  }
  if (seconds < 86_400) {
    return `${Math.floor(seconds / 3600)} h ago`;
  }
  return new Date(time).toISOString().slice(0, 16).replace('T', ' ');
}

export function clock(at: string | number): string {
  return new Date(at).toLocaleTimeString('en-GB', { hour12: false });
}

/** The first and last characters of a hash: enough to tell two apart at a glance. */
export function shortHash(hex: string): string {
  return hex.length > 16 ? `${hex.slice(0, 8)}…${hex.slice(-6)}` : hex;
}
