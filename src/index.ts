/**
 * keyctl's library surface. For bots: `loadCredentials()` (docs/delivery.md). Kept tiny: importing it loads no
 * exchange library and no cloud SDK.
 */
export { loadCredentials } from './delivery/client.js';
export type { CredentialSource, LoadCredentialsOptions, LoadedCredentials, RotationListener } from './delivery/client.js';
// What a bot receives (ccxt's field names); keyctl's own `Credentials` (src/domain/credentials.ts) is internal.
export type { BotCredentials } from './delivery/protocol.js';
export { KeyctlError } from './errors.js';
