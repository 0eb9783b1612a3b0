/**
 * Durations as users type them: ISO-8601 (`PT15M`, `P30D`, `P1DT12H`) everywhere, and on the command line also the
 * short forms `90s`, `15m`, `24h`, `30d`.
 *
 * Durations are plain milliseconds: easy to compare, add to an instant, pass to a timer and print. Calendar units are
 * converted with luxon's casual conversion (a month is 30 days, a year 365 days, a day 24 hours), the same numbers the
 * config rules use to check `grace < every`, so "P1M" means exactly 30 days everywhere in keyctl.
 */
import { Duration } from 'luxon';
import { UsageError } from '@keyctl/client/errors';

/** The longest duration accepted (100 years): beyond it a schedule means nothing and date arithmetic overflows. */
export const MAX_DURATION_MS = 100 * 365 * 86_400_000;

const SHORT = /^(\d{1,15})(s|m|h|d)$/;
const SHORT_UNIT_MS = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

// luxon alone also accepts "P", "PT", "P1DT" and negative parts; ISO-8601 (and keyctl) does not.
const NUM = String.raw`\d+(?:[.,]\d+)?`;
/**
 * What keyctl accepts as an ISO-8601 duration, on the command line and in the config alike: `P`, then date parts in the
 * order Y M W D, optionally `T` and time parts H M S; each part a non-negative number (`.` or `,` for decimals), and
 * at least one part after `P` and after `T`. No sign, no spaces.
 */
const ISO_DURATION = new RegExp(`^P(?=.)(?:${NUM}Y)?(?:${NUM}M)?(?:${NUM}W)?(?:${NUM}D)?(?:T(?=.)(?:${NUM}H)?(?:${NUM}M)?(?:${NUM}S)?)?$`);

/**
 * Milliseconds of an ISO-8601 duration ({@link ISO_DURATION}), or undefined when `text` is not one. The one definition
 * both {@link parseDuration} and the config schema use, so `keyctl.yaml` and the command line accept the same text.
 * No length limit here: callers refuse more than {@link MAX_DURATION_MS} with their own wording.
 */
export function isoDurationMs(text: string): number | undefined {
  if (!ISO_DURATION.test(text)) return undefined;
  // luxon reads only `.` as the decimal sign; ISO-8601 allows both.
  const d = Duration.fromISO(text.replace(/,/g, '.'));
  const ms = d.isValid ? Math.round(d.toMillis()) : NaN;
  return Number.isFinite(ms) ? ms : undefined;
}

const FORMS = 'ISO-8601 (PT15M, PT1H, P30D, P1DT12H) or a number with one unit: 90s, 15m, 24h, 30d (0s for none)';

/**
 * Parses a duration the user typed and returns it in milliseconds. Zero (`0s`, `PT0S`) is accepted; negative values,
 * empty strings, mixed short forms (`1h30m`) and anything over {@link MAX_DURATION_MS} are not.
 *
 * @param text ISO-8601 (`PT15M`, `P30D`) or a short form (`90s`, `15m`, `24h`, `30d`).
 * @param what How the value is named in an error message, e.g. `--grace`.
 * @throws UsageError `INVALID_DURATION` (exit 2), with a hint listing the accepted forms.
 */
export function parseDuration(text: string, what = 'duration'): number {
  const s = text.trim();
  const short = SHORT.exec(s);
  let ms: number | undefined;
  if (short) {
    ms = Number(short[1]) * SHORT_UNIT_MS[short[2] as keyof typeof SHORT_UNIT_MS];
  } else {
    ms = isoDurationMs(s);
  }
  if (ms === undefined || !Number.isFinite(ms)) {
    throw new UsageError('INVALID_DURATION', `${what} "${text}" is not a duration.`, { hint: `Use ${FORMS}.` });
  }
  if (ms > MAX_DURATION_MS) {
    throw new UsageError('INVALID_DURATION', `${what} "${text}" is longer than 100 years.`, { hint: `Use ${FORMS}.` });
  }
  return ms;
}

/**
 * Milliseconds of an ISO-8601 duration the config schema has already validated (`rotate.every`, `verify.every`,
 * `rotate.grace`), read by the same rule ({@link isoDurationMs}). Throws only if handed text the schema would refuse.
 */
export function configDurationMs(iso: string): number {
  const ms = isoDurationMs(iso);
  if (ms === undefined) throw new UsageError('INVALID_DURATION', `"${iso}" is not an ISO-8601 duration.`, { hint: `Use ${FORMS}.` });
  return ms;
}

const UNITS: Array<[string, number]> = [
  ['d', 86_400_000],
  ['h', 3_600_000],
  ['m', 60_000],
  ['s', 1000],
  ['ms', 1],
];

/**
 * A duration for humans: `30d`, `1h 30m`, `2d 4h 5m 10s`, `0s`. Exact down to the millisecond; negative durations
 * get a leading `-`.
 */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) return String(ms);
  let rest = Math.round(Math.abs(ms));
  const parts: string[] = [];
  for (const [unit, size] of UNITS) {
    const n = Math.floor(rest / size);
    if (n > 0) parts.push(`${n}${unit}`);
    rest -= n * size;
  }
  if (parts.length === 0) return '0s';
  return `${ms < 0 ? '-' : ''}${parts.join(' ')}`;
}
