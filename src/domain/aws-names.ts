/** Secret-name rules the config check shares with the store (no imports: the config loader reads this). */

/**
 * AWS appends `-` and six random characters to a secret's name in its ARN, and reads a SecretId ending in `-` plus
 * six characters as a complete ARN (CreateSecret API reference, Name: "Do not end your secret name with a hyphen
 * followed by six characters. If you do so, you risk confusion and unexpected results when searching for a secret by
 * partial ARN"; https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_CreateSecret.html). Such a name
 * could resolve to another secret, so keyctl refuses it: at config time and before any call.
 */
export const PARTIAL_ARN_SUFFIX = /-[A-Za-z0-9]{6}$/;
