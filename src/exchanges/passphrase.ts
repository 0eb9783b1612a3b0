import { randomInt } from 'node:crypto';

const LOWER = 'abcdefghijkmnopqrstuvwxyz';
const UPPER = 'ABCDEFGHJKLMNPQRSTUVWXYZ';
const DIGITS = '23456789';
// Specials that survive a raw (unencoded) query string: ccxt sends KuCoin's DELETE parameters, the key's passphrase
// among them, without URL-encoding, so `#`, `%`, `&`, `+` and `=` would cut or change it.
const SPECIAL = '-_.!*';

/**
 * A random passphrase for a new key (node:crypto): 24 characters with at least one lower, upper, digit and special,
 * which satisfies OKX (8-32, all four classes) and KuCoin (7-32, no spaces), and needs no URL encoding.
 */
export function generatePassphrase(length = 24, options: { special?: boolean } = {}): string {
  // Bitget takes letters and digits only ("English letters of 8-32 characters + numbers"): `special: false`.
  const classes = options.special === false ? [LOWER, UPPER, DIGITS] : [LOWER, UPPER, DIGITS, SPECIAL];
  const all = classes.join('');
  const chars = classes.map((set) => set[randomInt(set.length)]!);
  while (chars.length < length) chars.push(all[randomInt(all.length)]!);
  // Fisher-Yates, so the guaranteed classes are not always at the front.
  for (let i = chars.length - 1; i > 0; i--) {
    const j = randomInt(i + 1);
    [chars[i], chars[j]] = [chars[j]!, chars[i]!];
  }
  return chars.join('');
}
