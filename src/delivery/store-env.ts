/**
 * The environment variables that hold keyctl's store credentials: they never reach a bot (exec strips them) and a bot
 * cannot be given a key under their names (exec --env refuses them). Its own module, importing nothing, so both can
 * share the list. src/cli/startup-env.ts keeps its own copy (it loads nothing but node:fs); a unit test keeps them in step.
 */

/** keyctl's own store credentials never reach the bot: with them it could read every key in the store. */
export const STRIPPED_ENV = [
  'KEYCTL_MASTER_KEY',
  'KEYCTL_PASSPHRASE',
  'KEYCTL_TOKEN',
  'VAULT_TOKEN',
  'VAULT_SECRET_ID',
  'KEYCTL_VAULT_JWT',
  'VAULT_CLIENT_KEY',
];
/**
 * With the AWS store, keyctl's AWS credentials in the environment can read every key in the store: they are not the
 * bot's to inherit. A bot that needs AWS gets a role or profile of its own (instance role, AWS_PROFILE).
 */
export const AWS_STORE_ENV = ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN'];

/** The environment variables that hold a provider's store credentials and never reach a bot. */
export function storeCredentialEnv(provider: string): string[] {
  return provider === 'aws' ? [...STRIPPED_ENV, ...AWS_STORE_ENV] : STRIPPED_ENV;
}
