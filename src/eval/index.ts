export * from './extract.js';
export * from './metrics.js';
export * from './report.js';
