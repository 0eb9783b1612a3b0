/** Where the config file is. Its own module, light: `keyctl exec` needs the path without the config loader. */
import { resolve } from 'node:path';

/** Which file to read: --config, then KEYCTL_CONFIG, then ./keyctl.yaml. */
export function resolveConfigPath(flag: string | undefined, env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): string {
  return resolve(cwd, flag ?? env.KEYCTL_CONFIG ?? 'keyctl.yaml');
}
