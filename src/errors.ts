/**
 * keyctl's error types live in the client package (clients/node/src/errors.ts), so that a bot catching what
 * `loadCredentials()` throws and keyctl share one KeyctlError. keyctl's own code imports `@keyctl/client/errors`
 * directly; this re-export only keeps older import paths building.
 */
export * from '@keyctl/client/errors';
