/** The real nginx as a remote cache (shared with the benchmark): see bench/nginx.ts. */
export * from '../../bench/nginx.js';
