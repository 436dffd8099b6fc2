export * from './provider.js';
export * from './journal.js';
export * from './batch.js';
export * from './chat.js';
export * from './extract.js';
export * from './finetune.js';
export { canonicalJson, hashJson, sha256 } from './json.js';
export * from './models.js';
