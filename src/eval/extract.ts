/**
 * Pulling the assembly out of a model's answer, recognising NASM-flavoured answers, and turning
 * GNU as / ld stderr into a short human reason. Pure string work: no processes, no I/O.
 */

export type ExtractSource = 'marker' | 'fence' | 'bare';

export type ExtractResult =
  | { ok: true; asm: string; source: ExtractSource }
  | { ok: false; verdict: 'no-asm' };

/**
 * The fine-tune's fixed phrase ("Sure! But let's first write C++ code which works like that: <C++>
 * Now, let's write the Assembler code: <asm>"). Matched leniently: case, comma, curly apostrophe,
 * "Assembler"/"Assembly", optional "code" and colon.
 */
const MARKER_RE = /now,?\s+let['\u2019]?s\s+write\s+the\s+assembl(?:er|y)(?:\s+code)?\s*:?/gi;

/** Fence info strings that declare assembly. */
const ASM_LANGS = new Set([
  'asm', 'assembly', 's', 'gas', 'x86asm', 'nasm', 'x86', 'x86-64', 'x86_64', 'x64', 'att', 'as',
  'gnu-asm', 'gnuassembler',
]);

/** Fence info strings that are definitely not assembly (never content-sniffed: C++ comes first in answers). */
const NON_ASM_LANGS = new Set(['c', 'cpp', 'c++', 'cc', 'cxx', 'h', 'hpp', 'objc', 'rust', 'go', 'java', 'python', 'py']);

export interface FencedBlock {
  /** Lower-cased first word of the info string, '' when none. */
  lang: string;
  content: string;
  /** Whether a closing fence was found (answers cut off at max_tokens leave the last one open). */
  closed: boolean;
  /** Offsets in the normalised text: start of the opening fence line, end of the closing fence line. */
  start: number;
  end: number;
}

function normalise(text: string): string {
  return text.replace(/\r\n?/g, '\n');
}

/** Markdown fenced code blocks (``` or ~~~, 3+ chars, indented by at most 3 spaces). */
export function findFencedBlocks(text: string): FencedBlock[] {
  const src = normalise(text);
  const blocks: FencedBlock[] = [];
  const lines = src.split('\n');
  let offset = 0;
  let open: { fence: string; lang: string; start: number; body: string[] } | null = null;
  for (const line of lines) {
    const lineStart = offset;
    offset += line.length + 1;
    if (open === null) {
      const m = /^ {0,3}(`{3,}|~{3,})\s*([^`\s]*)[^`]*$/.exec(line);
      if (m) {
        const lang = m[2]!.replace(/^\{?\.?/, '').replace(/[},]+$/, '').toLowerCase();
        open = { fence: m[1]!, lang, start: lineStart, body: [] };
      }
      continue;
    }
    const close = /^ {0,3}(`{3,}|~{3,})\s*$/.exec(line);
    if (close && close[1]![0] === open.fence[0] && close[1]!.length >= open.fence.length) {
      blocks.push({ lang: open.lang, content: open.body.join('\n'), closed: true, start: open.start, end: Math.min(offset, src.length) });
      open = null;
    } else {
      open.body.push(line);
    }
  }
  if (open !== null) {
    blocks.push({ lang: open.lang, content: open.body.join('\n'), closed: false, start: open.start, end: src.length });
  }
  return blocks;
}

// ---------------------------------------------------------------------------------------------
// Line-level assembly sniffing

const MNEMONICS = new Set([
  'mov', 'movq', 'movl', 'movw', 'movb', 'movabs', 'movabsq', 'movzx', 'movsx', 'movsxd', 'movzbl', 'movzwl', 'movsbl',
  'movswl', 'movslq', 'movsbq', 'movzbq', 'movsd', 'movss', 'movaps', 'movapd', 'movups', 'movdqa', 'movdqu', 'movd',
  'cvtsi2sd', 'cvtsi2sdl', 'cvttsd2si', 'cvtss2sd', 'cvtsd2ss', 'pxor', 'addsd', 'subsd', 'mulsd', 'divsd', 'ucomisd', 'comisd',
  'lea', 'leaq', 'leal', 'push', 'pushq', 'pop', 'popq', 'add', 'addq', 'addl', 'sub', 'subq', 'subl', 'imul', 'imulq',
  'imull', 'mul', 'mull', 'mulq', 'idiv', 'idivl', 'idivq', 'div', 'divl', 'divq', 'inc', 'incl', 'incq', 'dec', 'decl', 'decq',
  'neg', 'negl', 'negq', 'not', 'notl', 'and', 'andl', 'andq', 'or', 'orl', 'orq', 'xor', 'xorl', 'xorq', 'shl', 'shll',
  'shlq', 'shr', 'shrl', 'shrq', 'sar', 'sarl', 'sarq', 'sal', 'sall', 'cmp', 'cmpl', 'cmpq', 'cmpb', 'cmpw', 'test',
  'testl', 'testq', 'testb', 'jmp', 'je', 'jne', 'jz', 'jnz', 'jg', 'jge', 'jl', 'jle', 'ja', 'jae', 'jb', 'jbe', 'js', 'jns',
  'call', 'callq', 'ret', 'retq', 'leave', 'leaveq', 'syscall', 'int', 'nop', 'endbr64', 'cltq', 'cqto', 'cltd', 'cdq',
  'cqo', 'cdqe', 'sete', 'setne', 'setg', 'setge', 'setl', 'setle', 'seta', 'setb', 'cmove', 'cmovne', 'cmovg', 'cmovl',
  'cmovge', 'cmovle', 'hlt', 'enter',
]);

type LineKind = 'blank' | 'comment' | 'asm' | 'other';

function classifyLine(raw: string): LineKind {
  const line = raw.trim();
  if (line === '') return 'blank';
  if (/^(#|;|\/\/|\/\*)/.test(line) && !/^#\s*(include|define|if|endif|pragma)\b/.test(line)) return 'comment';
  // Directive: .text, .globl main, .string "x", .section .rodata, .LC0: (label handled below)
  if (/^\.[A-Za-z_][\w.]*(\s|$)/.test(line) && !/[{}]/.test(line)) return 'asm';
  // Label definition on its own line (optionally followed by a comment or an instruction).
  const label = /^([A-Za-z_.$][\w.$@]*):(?!:)\s*(.*)$/.exec(line);
  if (label) {
    const rest = label[2]!;
    if (rest === '' || /^(#|;)/.test(rest)) {
      // `public:` / `private:` / `default:` are C++; still count, the ratio check sorts it out.
      return ['public', 'private', 'protected', 'default'].includes(label[1]!) ? 'other' : 'asm';
    }
    return classifyLine(rest);
  }
  // NASM data / section lines.
  if (/^(section|segment)\s+\.?\w+/i.test(line) || /^(global|extern)\s+[A-Za-z_]\w*\s*$/i.test(line)) return 'asm';
  if (/^[A-Za-z_]\w*:?\s+(db|dw|dd|dq|resb|resw|resd|resq|equ|times)\b/i.test(line)) return 'asm';
  // Instruction: mnemonic, then operands without C-ish punctuation.
  const ins = /^(?:rep\s+|lock\s+)?([a-z][a-z0-9]*)(?:\s+(.*))?$/i.exec(line);
  if (ins && MNEMONICS.has(ins[1]!.toLowerCase())) {
    const raw2 = ins[2] ?? '';
    // `int a = 8;` is C; `;` starts a NASM comment only after whitespace-separated operands.
    if (/;\s*$/.test(raw2) && !/\s;/.test(raw2)) return 'other';
    const ops = raw2.replace(/\s*(#|;).*$/, '');
    if (/[{}"=]|&&|\|\||<<|::|\(\s*\)|;\s*$/.test(ops)) return 'other';
    return 'asm';
  }
  return 'other';
}

/**
 * Heuristic: does this text look like assembly (GNU or NASM flavour)? At least two assembly lines,
 * and assembly lines make up most of the non-blank, non-comment lines.
 */
export function looksLikeAssembly(text: string): boolean {
  let asm = 0;
  let other = 0;
  for (const line of normalise(text).split('\n')) {
    const kind = classifyLine(line);
    if (kind === 'asm') asm++;
    else if (kind === 'other') other++;
  }
  return asm >= 2 && asm >= 2 * other;
}

/** Longest run of assembly lines (blank lines and comments allowed inside) in unfenced prose. */
function findBareRun(text: string): string | null {
  const lines = normalise(text).split('\n');
  let best: { from: number; to: number; asm: number } | null = null;
  let from = -1;
  let lastAsm = -1;
  let count = 0;
  const flush = () => {
    if (from >= 0 && count > 0 && (best === null || count > best.asm)) best = { from, to: lastAsm, asm: count };
    from = -1;
    count = 0;
  };
  lines.forEach((line, i) => {
    const kind = classifyLine(line);
    if (kind === 'asm') {
      if (from < 0) from = i;
      lastAsm = i;
      count++;
    } else if (kind === 'other') {
      flush();
    }
  });
  flush();
  const b = best as { from: number; to: number; asm: number } | null;
  if (b === null || b.asm < 4) return null;
  let start = b.from;
  // A leading "Sure:" or "Example:" parses as a label; drop leading labels nothing in the run uses.
  for (;;) {
    const m = /^\s*([A-Za-z][\w$]*):\s*$/.exec(lines[start] ?? '');
    if (!m || start >= b.to || m[1] === 'main') break;
    const name = m[1]!;
    const used = lines.slice(start + 1, b.to + 1).some((l) => new RegExp(`(^|[^\\w.$])${name}([^\\w$]|$)`).test(l));
    if (used) break;
    start++;
  }
  const run = lines.slice(start, b.to + 1).join('\n');
  // Prose lines can start with a mnemonic ("Call printf first."); demand registers or directives too.
  const anchors = run.match(/%[a-z][a-z0-9]{1,4}\b|^\s*\.[a-z_]+\b|\b(?:[re]?[abcd]x|[re]?[sd]i|[re]?[sb]p|r\d{1,2}[dwb]?)\b/gim) ?? [];
  return anchors.length >= 1 ? run : null;
}

function dedentTrim(text: string): string {
  const lines = text.replace(/^\s*\n/, '').replace(/\s+$/, '').split('\n');
  return lines.join('\n');
}

/**
 * Extract the assembly from a model answer.
 * 1. After the fine-tune's marker "Now, let's write the Assembler code:" (its last occurrence): the
 *    rest of the answer, trimmed, with a surrounding code fence stripped; if prose comes first and a
 *    fence follows, that fence's content.
 * 2. Otherwise the last fenced block tagged asm/assembly/s/gas/x86asm/nasm (and x86 variants) or
 *    whose content looks like assembly (C/C++-tagged blocks are never sniffed).
 * 3. Otherwise an unfenced run of at least four assembly lines ('bare').
 * 4. Otherwise `no-asm`.
 */
export function extractAsm(answer: string): ExtractResult {
  const text = normalise(answer ?? '');

  let markerEnd = -1;
  for (const m of text.matchAll(MARKER_RE)) markerEnd = (m.index ?? 0) + m[0].length;
  if (markerEnd >= 0) {
    // Keep the first line's indentation (`\t.file ...`); drop the rest of the marker line if blank.
    const rest = text.slice(markerEnd).replace(/^[ \t]+(?=\S)/, '').replace(/^\s*\n/, '').trimEnd();
    if (rest.trim() !== '') {
      let asm: string;
      const blocks = findFencedBlocks(rest);
      if (blocks[0] && blocks[0].start === 0) {
        asm = blocks[0].content;
      } else if (blocks.length > 0 && !looksLikeAssembly(rest.slice(0, blocks[0]!.start))) {
        const pick = blocks.find((b) => ASM_LANGS.has(b.lang) || looksLikeAssembly(b.content)) ?? blocks[0]!;
        asm = pick.content;
      } else if (blocks.length > 0) {
        // Raw assembly, then a fence (say, build commands): stop at the fence.
        asm = rest.slice(0, blocks[0]!.start);
      } else {
        asm = rest;
      }
      asm = dedentTrim(asm);
      if (asm.trim() !== '') return { ok: true, asm, source: 'marker' };
    }
  }

  const blocks = findFencedBlocks(text);
  for (let i = blocks.length - 1; i >= 0; i--) {
    const b = blocks[i]!;
    if (b.content.trim() === '') continue;
    if (ASM_LANGS.has(b.lang) || (!NON_ASM_LANGS.has(b.lang) && looksLikeAssembly(b.content))) {
      return { ok: true, asm: dedentTrim(b.content), source: 'fence' };
    }
  }

  // Unfenced: search only the prose outside fences.
  let outside = text;
  for (let i = blocks.length - 1; i >= 0; i--) {
    const b = blocks[i]!;
    outside = outside.slice(0, b.start) + '\n' + outside.slice(b.end);
  }
  const bare = findBareRun(outside);
  if (bare !== null) return { ok: true, asm: dedentTrim(bare), source: 'bare' };

  return { ok: false, verdict: 'no-asm' };
}

// ---------------------------------------------------------------------------------------------
// NASM detection

/** Reasons the text looks like NASM (or MASM) rather than GNU as input; empty when it does not. */
export function nasmSignals(asm: string): string[] {
  const text = normalise(asm);
  const signals: string[] = [];
  const intelSyntax = /^\s*\.intel_syntax\b/m.test(text);
  const first = (re: RegExp): string | undefined => re.exec(text)?.[0]?.trim();

  const section = first(/^\s*(?:section|segment)\s+\.?\w+.*$/im);
  if (section) signals.push(`\`${section}\``);
  const global = first(/^\s*(?:global|extern)\s+[A-Za-z_]\w*.*$/im);
  if (global) signals.push(`\`${global.replace(/\s*;.*$/, '')}\``);
  const data = first(/^\s*[A-Za-z_]\w*:?\s+(?:db|dw|dd|dq|resb|resw|resd|resq|equ|times)\b.*$/im);
  if (data) signals.push(`\`${data.replace(/\s*;.*$/, '')}\``);

  if (!intelSyntax) {
    // Intel operand order with bare register names: `mov rax, 1`, `add eax, [rbp-4]`.
    const reg = '(?:r(?:[a-d]x|[sd]i|[sb]p|[89]|1[0-5])[dwb]?|e(?:[a-d]x|[sd]i|[sb]p)|[a-d][xlh]|[sd]il|[sb]pl)';
    const intel = new RegExp(`^\\s*(?:[A-Za-z_.]\\w*:\\s*)?[a-z]{2,8}\\s+(?:(?:byte|word|dword|qword)\\s+(?:ptr\\s+)?)?(?:${reg}|\\[[^\\]]*\\])\\s*,[^%\\n]*$`, 'im');
    const ins = first(intel);
    if (ins) signals.push(`Intel operand order without .intel_syntax (\`${ins.replace(/\s*;.*$/, '')}\`)`);
  }
  return signals;
}

/**
 * True when the assembly is NASM-style (`section .text`, `global _start`, `db`/`equ`, or Intel
 * operand order like `mov rax, 1` without a `.intel_syntax` directive) — GNU as rejects it.
 */
export function looksLikeNasm(asm: string): boolean {
  return nasmSignals(asm).length > 0;
}

// ---------------------------------------------------------------------------------------------
// Tool error classification

function clip(s: string, max = 80): string {
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

function uniq<T>(xs: T[]): T[] {
  return [...new Set(xs)];
}

function nameList(names: string[], max = 3): string {
  const shown = names.slice(0, max).map((n) => `\`${clip(n, 60)}\``);
  const more = names.length > max ? ` (+${names.length - max} more)` : '';
  return shown.join(', ') + more;
}

/** Diagnostics of GNU as: `file.s:12: Error: message`. */
function asErrors(stderr: string): { line?: number; message: string }[] {
  const out: { line?: number; message: string }[] = [];
  for (const l of stderr.split('\n')) {
    const m = /^(?:.*?):(\d+):\s*Error:\s*(.*)$/.exec(l) ?? /^(?:.*?:\s*)?Error:\s*(.*)$/.exec(l);
    if (!m) continue;
    if (m.length === 3) out.push({ line: Number(m[1]), message: m[2]!.trim() });
    else out.push({ message: m[1]!.trim() });
  }
  return out;
}

const NASM_WORDS = /^no such instruction: `(?:section|segment|global|extern|bits|default|[A-Za-z_]\w*:?\s+(?:db|dw|dd|dq|resb|resw|resd|resq|equ|times)\b)/i;

/**
 * A short human reason for a failed `g++ x.s` (GNU as and ld stderr). Examples:
 * "NASM syntax given to GNU as (`section .data`)", "undefined reference to `print_number`",
 * "absolute address of `.rodata` under PIE (R_X86_64_32S); needs RIP-relative addressing or -no-pie".
 */
export function classifyToolError(stderr: string): string {
  const text = normalise(stderr ?? '');
  const errors = asErrors(text);
  const where = (e: { line?: number }) => (e.line !== undefined ? ` (line ${e.line})` : '');
  const more = (n: number) => (n > 1 ? ` (+${n - 1} more error${n > 2 ? 's' : ''})` : '');

  // 1. NASM given to GNU as.
  const nasm = errors.filter((e) => NASM_WORDS.test(e.message));
  if (nasm.length > 0) {
    const what = /`([^`']*)'/.exec(nasm[0]!.message)?.[1] ?? '';
    return `NASM syntax given to GNU as: \`${clip(what.trim(), 50)}\`${where(nasm[0]!)}${more(errors.length)}`;
  }
  const sizeMismatch = errors.filter((e) => /^operand (?:size|type) mismatch for `(mov|add|sub|xor|and|or|cmp|lea|push|pop)'/.test(e.message));
  if (sizeMismatch.length >= 3 && sizeMismatch.length * 2 >= errors.length) {
    return `Intel/NASM operand syntax given to GNU as in AT&T mode (operand size mismatch${where(sizeMismatch[0]!)})${more(errors.length)}`;
  }

  // 2. Assembler errors, most specific first.
  const firstAs = (re: RegExp) => errors.find((e) => re.test(e.message));
  let e = firstAs(/^junk/);
  if (e) {
    const ch = /first unrecognized character is `(.+)'$/.exec(e.message)?.[1] ?? /^junk `(.+)' after/.exec(e.message)?.[1];
    return `junk at end of line${where(e)}${ch ? `, near \`${clip(ch, 40)}\`` : ''}${more(errors.length)}`;
  }
  e = firstAs(/cfi_(?:endproc|startproc)|CFI instruction|\.cfi/);
  if (e) return `unbalanced .cfi directives: ${clip(e.message)}${where(e)}${more(errors.length)}`;
  e = firstAs(/symbol `.*' is already defined/);
  if (e) return `label \`${/`(.*)'/.exec(e.message)![1]}\` defined twice${where(e)}${more(errors.length)}`;
  e = firstAs(/^unknown pseudo-op/);
  if (e) return `unknown directive \`${/`(.*)'/.exec(e.message)?.[1] ?? '?'}\`${where(e)}${more(errors.length)}`;
  e = firstAs(/^bad register name/);
  if (e) return `bad register name \`${/`(.*)'/.exec(e.message)?.[1] ?? '?'}\`${where(e)}${more(errors.length)}`;
  e = firstAs(/^invalid instruction suffix/);
  if (e) return `${clip(e.message.replace(/'/g, '`'))}${where(e)}${more(errors.length)}`;
  e = firstAs(/^no such instruction/);
  if (e) return `unknown instruction \`${clip(/`(.*)'/.exec(e.message)?.[1] ?? '?', 50)}\`${where(e)}${more(errors.length)}`;
  e = firstAs(/^operand (?:size|type) mismatch|^invalid operand|^too many memory references|^unbalanced parenthesis|^ambiguous operand size/);
  if (e) return `${clip(e.message.replace(/'/g, '`').replace(/\.$/, ''))}${where(e)}${more(errors.length)}`;
  if (errors.length > 0) return `assembler error: ${clip(errors[0]!.message.replace(/'/g, '`'))}${where(errors[0]!)}${more(errors.length)}`;

  // 3. Linker errors.
  const pie = /relocation (R_X86_64_\w+) against (?:symbol |undefined symbol )?`([^']+)' can not be used when making a (?:PIE|shared) object/.exec(text);
  if (pie) {
    const sym = pie[2]!.replace(/@@.*$/, '');
    const lea = sym.startsWith('.') ? 'leaq label(%rip)' : `leaq ${clip(sym, 40)}(%rip)`;
    return `absolute address of \`${clip(sym, 60)}\` under PIE (${pie[1]}); needs RIP-relative addressing (\`${lea}\`) or -no-pie`;
  }
  const multi = uniq([...text.matchAll(/multiple definition of `([^']+)'/g)].map((m) => m[1]!));
  const undef = uniq([...text.matchAll(/undefined reference to `([^']+)'/g)].map((m) => m[1]!));
  if (multi.includes('_start') && undef.includes('main')) {
    return 'defines `_start` (no `main`); clashes with the C runtime\'s _start when linked by g++';
  }
  if (undef.length > 0) {
    if (undef.length === 1 && undef[0] === 'main') return 'undefined reference to `main` (no global `main`; missing `.globl main`?)';
    return `undefined reference to ${nameList(undef)}`;
  }
  if (multi.length > 0) return `multiple definition of ${nameList(multi)}`;
  const lib = /cannot find -l([^\s:]+)/.exec(text);
  if (lib) return `library not found: -l${lib[1]}`;
  const ldErr = text.split('\n').find((l) => /(^|\/)ld: /.test(l) && !/warning:|NOTE:/.test(l));
  if (ldErr) return `link error: ${clip(ldErr.replace(/^.*?ld: (?:\/tmp\/\S+: )?/, ''))}`;

  // 4. Anything else: first line mentioning an error, else first non-empty line.
  const lines = text.split('\n').map((l) => l.trim()).filter((l) => l !== '' && !/Assembler messages:$/.test(l));
  const err = lines.find((l) => /error/i.test(l) && !/^collect2: error: ld returned/.test(l)) ?? lines[0];
  return err ? clip(err.replace(/^\S+:\d+:\s*/, ''), 100) : 'unknown error (empty stderr)';
}
