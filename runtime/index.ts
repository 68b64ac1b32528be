/**
 * kubereflect's runtime: a typed client and `Api`, the watcher, the store and
 * reflector, the shared dispatcher, and the helpers around them. See
 * `docs/runtime.md` for how data flows through the pieces.
 */
export * from './types.ts';
export * from './errors.ts';
export * from './client.ts';
export * from './api.ts';
export * from './decode.ts';
export * from './watcher.ts';
export * from './backoff.ts';
export * from './store.ts';
export * from './reflector.ts';
export * from './dispatcher.ts';
export * from './object-ref.ts';
export * from './labels.ts';
export * from './logger.ts';
export * from './kind.ts';
