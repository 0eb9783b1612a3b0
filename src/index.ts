/**
 * keyctl's library surface. For bots: `loadCredentials()` (docs/delivery.md). Kept tiny: importing it loads no
 * exchange library and no cloud SDK.
 */
export { loadCredentials } from './delivery/client.js';
export type { Credentials, CredentialSource, LoadCredentialsOptions, LoadedCredentials, RotationListener } from './delivery/client.js';
export { KeyctlError } from './errors.js';
