/**
 * `clerk-mastra-auth/mastra`: the Mastra auth provider, a drop-in for `@mastra/auth-clerk` (change the import line).
 */
export {
  MastraAuthClerk,
  type MastraAuthClerkOptions,
  type MastraAuthRequest,
  type MastraProviderOptions,
} from './provider.js';
export { MemoryOwnershipError, protectMemory } from './memory.js';
export type { StudioOptions, StudioSessionOptions, StudioSignedInUser } from './studio.js';
