/**
 * livetail, the core: `createLivetail` mounts livetail's WebSocket endpoint and REST API inside your
 * Express + better-auth app. docs/embedding.md covers every option.
 */
export { createLivetail, type Livetail, type Readiness } from './core/create-livetail.js';
export { DependencyUnavailableError } from './core/dependency.js';
export { type DatabaseOption, type LivetailOptions, LivetailOptionsError } from './core/options.js';
export { TUNABLES, type TunableName, type Tunables } from './core/tunables.js';
export { HTTP_ERRORS, type HttpErrorCode, PROTOCOL_ERRORS, CLOSE_REASONS } from './errors.js';
// What lt.logs and lt.jobs throw: branch on `code` (the catalog's), as a REST client does.
export { type Issue, LivetailError, StoreUnavailableError, StoreWriteError, ValidationError } from './errors.js';
export { type BetterAuthInstance, BetterAuthSessionResolver } from './sessions/better-auth-session-resolver.js';
export { ProxySessionResolver, type ProxySessionResolverOptions } from './sessions/proxy-session-resolver.js';
export { type Credentials, type ResolvedSession, SessionCheckUnavailable, type SessionResolver } from './sessions/session-resolver.js';
export type { SessionEnd } from './sessions/session-end.js';
export type { LogEntry, LogEntryInput, JobEventData, JobEventInput } from './protocol/log-entry.js';
