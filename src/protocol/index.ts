export * from './constants.js';
export * from './log-entry.js';
export * from './messages.js';
