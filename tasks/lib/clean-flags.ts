/**
 * One `g++ -S` for both the raw and the cleaned variant. A toolchain's `cleanFlags` on g++ only
 * drop lines from the assembly (`-fno-ident`: the `.ident` line; `-fcf-protection=none`: `endbr64`,
 * the `notrack` prefix and the `.note.gnu.property` section, where the compiler enables CET; in C++
 * `-fno-asynchronous-unwind-tables` changes nothing, `-fexceptions` keeps the `.cfi_*`), so the
 * cleaned compile can be derived from the raw one by removing those lines — once that is proven
 * for this compiler and these flags: the first programs are compiled both ways and must give
 * exactly the derived text (`cleanFlagsProof`). Where it fails, or for a flag this file does not
 * know, every cleaned program is compiled with the flags, as before. Either way the cleaned file
 * is what validate then checks against the C++.
 */
import type { Facts } from '../../src/task-api.js';
import { commandStamp } from '../../src/store/facts.js';
import type { Toolchain } from './toolchain.js';

/** The flags whose effect on the assembly `withoutCleanFlagLines` reproduces. */
const LINE_ONLY_FLAGS = new Set(['-fno-ident', '-fcf-protection=none', '-fno-asynchronous-unwind-tables']);

/**
 * The assembly `cleanFlags` would have given, from the compile without them; undefined when a
 * flag is not one whose effect is known to be line removal.
 */
export function withoutCleanFlagLines(asm: string, cleanFlags: readonly string[]): string | undefined {
  if (!cleanFlags.every((f) => LINE_ONLY_FLAGS.has(f))) return undefined;
  const noIdent = cleanFlags.includes('-fno-ident');
  const noCet = cleanFlags.includes('-fcf-protection=none');
  const out: string[] = [];
  const property = /^\.section\s+\.note\.gnu\.property\b/;
  let inProperty = false;
  const body = asm.endsWith('\n') ? asm.slice(0, -1) : asm;
  for (const line of body.split('\n')) {
    const t = line.trim();
    if (inProperty) {
      // The property note runs to the next section switch (GCC puts it last, after .ident).
      if (/^\.(section|text|data|bss)\b/.test(t) && !property.test(t)) inProperty = false;
      else continue;
    }
    if (noIdent && /^\.ident\s/.test(t)) continue;
    if (noCet && /^endbr(64|32)$/.test(t)) continue;
    if (noCet && property.test(t)) {
      inProperty = true;
      continue;
    }
    // CET's jump tables: `notrack jmp *%rax` is a plain `jmp *%rax` without it.
    out.push(noCet ? line.replace(/^(\s*)notrack\s+/, '$1') : line);
  }
  return `${out.join('\n')}${body === asm ? '' : '\n'}`;
}

/** How many programs of one toolchain and level are compiled both ways before the derivation is trusted. */
export const PROOF_PROGRAMS = 3;

type ProofState = { checked: number; failed: boolean };
const proofs = new Map<string, ProofState>();

/**
 * Whether a cleaned compile of this toolchain and level may be derived from the raw one:
 * `derive` (proven), `check` (not yet: compile both ways and `record` whether they agree) or
 * `compile` (disproven, or a flag whose effect is not known). Proven on the first
 * `PROOF_PROGRAMS` real programs, remembered in the facts under the compiler's file stamp (an
 * upgrade proves it again); a single disagreement disproves it for good.
 */
export function cleanFlagsProof(tc: Toolchain, identity: unknown, flags: readonly string[], facts?: Facts): {
  state: 'derive' | 'check' | 'compile';
  record(agreed: boolean): void;
} {
  const none = { record: () => undefined };
  if (!tc.cleanFlags.length || withoutCleanFlagLines('', tc.cleanFlags) === undefined) return { state: 'compile', ...none };
  const key = `clean-flags-derivable/1 ${JSON.stringify([identity, flags, tc.cleanFlags])}`;
  const stamp = facts ? commandStamp(tc.cxx) : undefined;
  const remembered = stamp ? facts!.get(key, stamp) : undefined;
  if (remembered === true) return { state: 'derive', ...none };
  if (remembered === false) return { state: 'compile', ...none };
  const st = proofs.get(key) ?? { checked: 0, failed: false };
  proofs.set(key, st);
  if (st.failed) return { state: 'compile', ...none };
  if (st.checked >= PROOF_PROGRAMS) return { state: 'derive', ...none };
  return {
    state: 'check',
    record(agreed) {
      if (!agreed) st.failed = true;
      else st.checked++;
      if (stamp && (st.failed || st.checked >= PROOF_PROGRAMS)) facts!.set(key, stamp, !st.failed);
    },
  };
}
