/**
 * @keyctl/client: the bot side of keyctl (docs/delivery.md). `loadCredentials()` reads the key `keyctl exec` hands the
 * bot (pipe or environment) or redeems a `keyctl issue` token. Node built-ins only: no exchange library, no cloud SDK.
 */
export { loadCredentials } from './client.js';
export type { CredentialSource, LoadCredentialsOptions, LoadedCredentials, RotationListener } from './client.js';
export type { TokenUnwrapper } from './unwrap.js';
// What a bot receives (ccxt's field names).
export type { BotCredentials } from './protocol.js';
export { KeyctlError, ProviderError, UsageError } from './errors.js';
