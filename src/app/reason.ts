/** The `--reason` of an operator's decision that clears a finding (audit ack, store accept). */
import { UsageError } from '@keyctl/client/errors';

const MAX_REASON = 500;

/**
 * A reason is what makes the decision worth auditing: an empty, multi-line or essay-long one is refused (BAD_REASON,
 * exit 2). Returns it trimmed. `example` is a full command line the hint shows.
 */
export function checkReason(reason: string, example: string): string {
  const text = reason.trim();
  if (text.length === 0 || text.length > MAX_REASON || /[\r\n]/.test(text)) {
    throw new UsageError('BAD_REASON', `--reason must be one line of 1 to ${MAX_REASON} characters.`, {
      hint: `Say what you checked, e.g. ${example}`,
    });
  }
  return text;
}
