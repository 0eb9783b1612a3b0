/**
 * keyctl's library surface. For bots: `loadCredentials()` (docs/delivery.md), from the client package @keyctl/client
 * (clients/node), which keyctl bundles. Kept tiny: importing it loads no exchange library and no cloud SDK.
 */
import { loadCredentials as loadWith, type LoadCredentialsOptions, type LoadedCredentials, type TokenUnwrapper } from '@keyctl/client';

// Everything the client exports (its types, KeyctlError and the error classes it throws); `loadCredentials` below, a
// local export, takes the place of the client's own.
export * from '@keyctl/client';

// keyctl's providers, loaded only to unwrap a Vault or AWS token: a bot importing keyctl needs no second package for them.
const unwrapWithProviders: TokenUnwrapper = async (provider, storeToken, o) =>
  (await import('./delivery/unwrap.js')).unwrapToken(provider, storeToken, o);

/** The client's `loadCredentials`, with keyctl's own providers for tokens that are not the local store's. */
export function loadCredentials(options: LoadCredentialsOptions = {}): Promise<LoadedCredentials> {
  return loadWith({ ...options, unwrapToken: options.unwrapToken ?? unwrapWithProviders });
}
