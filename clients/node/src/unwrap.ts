/**
 * Token mode of the client: unwraps a `keyctl issue` token through the store that wrapped it. Loaded only for tokens.
 *
 * A local-store token is redeemed here, with node built-ins only: the token names the store directory and carries its
 * own one-time key, so a bot needs neither the master key nor a config (./local/tokens.ts). A Vault or AWS token (or
 * any other provider's) needs keyctl's provider code and its SDK: that is `keyctl` itself, an optional peer dependency
 * of this package, loaded here only then. Without it the bot gets a typed error naming the package to install.
 */
import { KeyctlError, ProviderError } from './errors.js';

/** Unwraps a store token of `provider` to the payload text keyctl wrapped (token.ts decodes it). */
export type TokenUnwrapper = (provider: string, storeToken: string, o: { env: NodeJS.ProcessEnv; config?: string }) => Promise<string>;

/** The optional peer that unwraps non-local tokens; a variable so that TypeScript does not need it installed. */
const PEER = 'keyctl';
const PEER_ENTRY = `${PEER}/unwrap`;

export async function unwrapToken(
  provider: string,
  storeToken: string,
  o: { env: NodeJS.ProcessEnv; config?: string },
  other?: TokenUnwrapper,
): Promise<string> {
  if (provider === 'local') {
    const { redeemLocalToken } = await import('./local/tokens.js');
    return redeemLocalToken(storeToken);
  }
  const unwrap = other ?? (await loadPeer(provider));
  return unwrap(provider, storeToken, o);
}

async function loadPeer(provider: string): Promise<TokenUnwrapper> {
  let mod: { unwrapToken?: unknown };
  try {
    mod = (await import(PEER_ENTRY)) as { unwrapToken?: unknown };
  } catch (err) {
    // Only "keyctl is not installed" becomes the install hint; keyctl failing to load is its own error, passed on.
    if (isCode(err, 'ERR_PACKAGE_PATH_NOT_EXPORTED')) throw incompatible();
    if (!(isCode(err, 'ERR_MODULE_NOT_FOUND') && (err as Error).message.includes(`'${PEER}'`))) throw err;
    throw new ProviderError(
      'TOKEN_PROVIDER_NOT_INSTALLED',
      `A ${provider} token needs keyctl's ${provider} provider, and keyctl is not installed.`,
      {
        hint: `Install it beside the client (npm install ${PEER}; an optional peer dependency of @keyctl/client), or start the bot with \`keyctl exec\` or a local-store token.`,
      },
    );
  }
  // Fail closed: a `keyctl` that answers with something else is not trusted to unwrap.
  if (typeof mod.unwrapToken !== 'function') throw incompatible();
  return mod.unwrapToken as TokenUnwrapper;
}

const incompatible = () =>
  new ProviderError('TOKEN_PROVIDER_INCOMPATIBLE', `The installed keyctl has no ${PEER_ENTRY} entry point to unwrap this token.`, {
    hint: 'Install keyctl at the same version as @keyctl/client.',
  });

function isCode(err: unknown, code: string): boolean {
  return err instanceof Error && !(err instanceof KeyctlError) && (err as { code?: unknown }).code === code;
}
