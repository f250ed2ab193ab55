// core/ is shared by every process and knows nothing of any of them.
export * from './clock.js';
export * from './config.js';
export * from './duration.js';
export * from './errors.js';
export * from './fast-prototypes.js';
export * from './http.js';
export * from './http-client.js';
export * from './logger.js';
export * from './metrics.js';
export * from './paths.js';
export * from './process.js';
export * from './replace-file.js';
export * from './random.js';
export * from './request-id.js';
export * from './sse.js';
