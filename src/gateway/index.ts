// Gateway policies the router calls on its request path: API keys (keys*.ts) and rate limits
// (ratelimit/). Library code only: nothing here listens or knows about the router.
export * from './keys.js';
export * from './keys-file.js';
export * from './keys-watch.js';
export * from './ratelimit/index.js';
