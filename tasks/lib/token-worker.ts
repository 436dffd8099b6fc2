/**
 * Child process that counts o200k tokens for `tokens.ts`. The encoder's tables (~70 MB of small
 * objects) live here rather than in the build process: a parent holding them forks ~3x slower
 * (measured: spawn() 1.4 ms → 4.0 ms), and a C++ build spawns three processes per program.
 * Protocol (IPC messages): { id, text } → { id, count }. Exits when the parent goes away.
 */
import { countTokens } from './tokens.js';

process.on('message', (m: { id: number; text: string }) => {
  process.send?.({ id: m.id, count: countTokens(m.text) });
});
process.on('disconnect', () => process.exit(0));
// Ctrl-C reaches the whole process group: the build decides what to do, and this helper goes
// when the build does.
process.on('SIGINT', () => {});
