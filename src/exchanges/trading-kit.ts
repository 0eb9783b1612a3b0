/**
 * What the trading implementations (src/exchanges/<id>/trading.ts) share: exchange quantities as exact decimal
 * strings (never floats: a kill must not misread what is left of an order), and running every cancel or close even
 * after one fails.
 */
import * as v from 'valibot';

export const DECIMAL = /^\d+(\.\d+)?$/;
export const SIGNED = /^-?\d+(\.\d+)?$/;
export const decimal = v.pipe(v.string(), v.regex(DECIMAL, 'a decimal'));
export const signedDecimal = v.pipe(v.string(), v.regex(SIGNED, 'a decimal'));
export const nonEmpty = v.pipe(v.string(), v.minLength(1));

export const isZero = (d: string): boolean => !/[1-9]/.test(d);

/** a - b for two plain decimals, exactly (BigInt); undefined when negative. */
export function minus(a: string, b: string): string | undefined {
  const digits = Math.max((a.split('.')[1] ?? '').length, (b.split('.')[1] ?? '').length);
  const scaled = (s: string) => {
    const [i = '0', f = ''] = s.split('.');
    return BigInt(i + f.padEnd(digits, '0'));
  };
  const d = scaled(a) - scaled(b);
  if (d < 0n) return undefined;
  const s = d.toString().padStart(digits + 1, '0');
  const frac = digits > 0 ? s.slice(s.length - digits).replace(/0+$/, '') : '';
  return `${s.slice(0, s.length - digits)}${frac ? `.${frac}` : ''}`;
}

/** Runs every task, even after one fails (a kill cancels all it can), then throws the first failure. */
export async function everyOne(tasks: Array<() => Promise<void>>): Promise<void> {
  const failures: unknown[] = [];
  for (const task of tasks) {
    try {
      await task();
    } catch (err) {
      failures.push(err);
    }
  }
  if (failures.length > 0) throw failures[0];
}
