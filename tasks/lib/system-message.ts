/**
 * The dataset's system message as a template filled from what really made the assembly, so a
 * model is never told a compiler or OS that did not produce its training data. The default is
 * the seed's wording with `{compiler}` and `{os}` where the seed named its own
 * (`g++ 13.2.0 (Ubuntu 13.2.0-23ubuntu4)`, `Linux Ubuntu Mate`).
 */
import { readFileSync } from 'node:fs';
import type { Facts, JsonObject } from '../../src/task-api.js';
import { loadToolchain, toolchainIdentity } from './toolchain.js';

export const SYSTEM_TEMPLATE = [
  'You are a coding assistant AI specialised in writing x86-64 g++ Assembler code.',
  'The Assembler code you provide is for 64-bit Intel Core i7 8th gen CPU and {os} operating system.',
  'The Assembler code is x86-64 and can be further compiled with {compiler}.',
  'Before writing the Assembler code in your responses, always write C++ code first, preferably use pure C++.',
].join('\n');

/** The seed's own system message, word for word (its compiler and OS named literally). */
export const SEED_SYSTEM = [
  'You are a coding assistant AI specialised in writing x86-64 g++ Assembler code.',
  'The Assembler code you provide is for 64-bit Intel Core i7 8th gen CPU and Linux Ubuntu Mate operating system.',
  'The Assembler code is x86-64 and can be further compiled with g++ 13.2.0 (Ubuntu 13.2.0-23ubuntu4).',
  'Before writing the Assembler code in your responses, always write C++ code first, preferably use pure C++.',
].join('\n');

const PLACEHOLDERS = ['compiler', 'triple', 'os'];

export function usesPlaceholders(template: string): boolean {
  return PLACEHOLDERS.some((p) => template.includes(`{${p}}`));
}

/** `Linux Debian GNU/Linux 12 (bookworm)`, from /etc/os-release. */
function osName(): string {
  try {
    const text = readFileSync('/etc/os-release', 'utf8');
    const m = /^PRETTY_NAME="?([^"\n]*)"?$/m.exec(text);
    if (m?.[1]) return `Linux ${m[1]}`;
  } catch {
    /* not Linux, or no os-release */
  }
  return 'Linux';
}

export async function systemIdentity(projectRoot: string, toolchain: string, facts?: Facts): Promise<JsonObject> {
  const tc = await toolchainIdentity(await loadToolchain(projectRoot, toolchain, facts), facts);
  return { compiler: String(tc.cxxVersion), triple: String(tc.dumpmachine), os: osName() };
}

export function fillSystemTemplate(template: string, identity: JsonObject): string {
  return template.replace(/\{(compiler|triple|os)\}/g, (all, name: string) => (typeof identity[name] === 'string' ? (identity[name] as string) : all));
}
