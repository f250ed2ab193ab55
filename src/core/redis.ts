// The one place src/ imports ioredis (lint holds every other module to it). ioredis declares
// `class VerbatimString extends String`, which leaves String.prototype slow for the life of the
// process (fast-prototypes.ts): loading it here puts the prototype back right after, whichever
// store loads it first. Not re-exported by index.ts, so processes without Redis never load it.
import { Redis } from 'ioredis';
import { restoreFastStringPrototype } from './fast-prototypes.js';

restoreFastStringPrototype();

export { Redis };
