import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { classifyToolError, extractAsm, findFencedBlocks, looksLikeAssembly, looksLikeNasm, nasmSignals } from '../src/eval/extract.js';

const GAS_HELLO = `\t.file\t"cppcode.cpp"
\t.text
\t.section\t.rodata
.LC0:
\t.string\t"The sum of 8 and 120 is: %d\\n"
\t.text
\t.globl\tmain
\t.type\tmain, @function
main:
.LFB0:
\t.cfi_startproc
\tendbr64
\tpushq\t%rbp
\tmovq\t%rsp, %rbp
\tmovl\t$128, %esi
\tleaq\t.LC0(%rip), %rax
\tmovq\t%rax, %rdi
\tmovl\t$0, %eax
\tcall\tprintf@PLT
\tmovl\t$0, %eax
\tpopq\t%rbp
\tret
\t.cfi_endproc
\t.section\t.note.GNU-stack,"",@progbits`;

const CPP = `#include <iostream>
int main() {
    int number1 = 8;
    int number2 = 120;
    int sum = number1 + number2;
    std::cout << "The sum of " << number1 << " and " << number2 << " is: " << sum << std::endl;
    return 0;
}`;

// The base gpt-4o-mini answer from the AssemblerGPT post (abridged): NASM in an ```assembly fence,
// followed by a ```sh block with the nasm/ld commands.
const NASM_ANSWER = `Here's a simple C++ program that adds the numbers 8 and 120. After that, I will provide you with the corresponding x86-64 Assembly code.
### C++ Code
\`\`\`cpp
${CPP}
\`\`\`
### Assembly Code
Below is the corresponding x86-64 Assembly code that performs the same operation as the C++ program above.
\`\`\`assembly
section .data
    msg db "The sum of 8 and 120 is ", 0 ; Message to print
    len equ $ - msg ; Length of the message
section .bss
    sum resb 4 ; Reserve space for sum
section .text
    global _start
_start:
    mov rax, 8 ; Move 8 into rax
    add rax, 120 ; Add 120 to rax (now rax = 128)
    mov [sum], rax
    mov rax, 1 ; syscall: write
    mov rdi, 1
    mov rsi, msg
    mov rdx, len
    syscall
    mov rax, 60 ; syscall: exit
    xor rdi, rdi
    syscall
\`\`\`
### Explanation:
1. The assembly program initializes the numbers 8 and 120, then computes their sum.
To compile the assembly code, save it into a file called \`sum.asm\`:
\`\`\`sh
nasm -f elf64 -o sum.o sum.asm
ld -o sum sum.o
./sum
\`\`\`
Make sure you have the necessary toolchain installed.`;

describe('extractAsm', () => {
  it('takes everything after the fine-tune marker', () => {
    const answer = `Sure! But let's first write C++ code which works like that:\n${CPP}\nNow, let's write the Assembler code:\n${GAS_HELLO}\n`;
    const r = extractAsm(answer);
    expect(r).toEqual({ ok: true, asm: GAS_HELLO, source: 'marker' });
  });

  it('strips a code fence around the marker text, and tolerates CRLF and prose after the fence', () => {
    const answer = `Sure! But let's first write C++ code which works like that:\n\`\`\`cpp\n${CPP}\n\`\`\`\nNow, let's write the Assembler code:\n\n\`\`\`asm\n${GAS_HELLO}\n\`\`\`\nThis prints 128.`;
    const r = extractAsm(answer.replace(/\n/g, '\r\n'));
    expect(r).toEqual({ ok: true, asm: GAS_HELLO, source: 'marker' });
  });

  it('marker followed by prose, then a fence: takes the fence', () => {
    const answer = `Now, let's write the Assembler code: here it is.\n\`\`\`\n${GAS_HELLO}\n\`\`\``;
    expect(extractAsm(answer)).toEqual({ ok: true, asm: GAS_HELLO, source: 'marker' });
  });

  it('takes a fenced ```asm block', () => {
    const answer = `Here is the program:\n\n\`\`\`asm\n${GAS_HELLO}\n\`\`\`\n\nCompile with g++ hello.s.`;
    expect(extractAsm(answer)).toEqual({ ok: true, asm: GAS_HELLO, source: 'fence' });
  });

  it('takes the last assembly block, sniffing untagged fences and skipping C++/shell', () => {
    const answer = `\`\`\`cpp\n${CPP}\n\`\`\`\nFirst try:\n\`\`\`s\nmain:\n\tret\n\`\`\`\nBetter:\n\`\`\`\n${GAS_HELLO}\n\`\`\`\n\`\`\`bash\ng++ a.s && ./a.out\n\`\`\``;
    expect(extractAsm(answer)).toEqual({ ok: true, asm: GAS_HELLO, source: 'fence' });
  });

  it('handles an unterminated fence (answer cut off at max_tokens)', () => {
    const answer = `Sure:\n\`\`\`gas\n${GAS_HELLO}`;
    expect(extractAsm(answer)).toEqual({ ok: true, asm: GAS_HELLO, source: 'fence' });
  });

  it('extracts the NASM answer of the base model; looksLikeNasm is true', () => {
    const r = extractAsm(NASM_ANSWER);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.source).toBe('fence');
    expect(r.asm.startsWith('section .data')).toBe(true);
    expect(r.asm.trimEnd().endsWith('syscall')).toBe(true);
    expect(r.asm).not.toContain('nasm -f');
    expect(looksLikeNasm(r.asm)).toBe(true);
    expect(nasmSignals(r.asm)).toContain('`section .data`');
  });

  it('finds unfenced (bare) assembly in prose', () => {
    const answer = `Sure, here you go:\n\n${GAS_HELLO}\n\nThat's it!`;
    expect(extractAsm(answer)).toEqual({ ok: true, asm: GAS_HELLO, source: 'bare' });
    expect(extractAsm('Sure:\n\tmovl $1, %eax\n\tret\n\tnop\n\tret\nbye')).toEqual({ ok: true, asm: '\tmovl $1, %eax\n\tret\n\tnop\n\tret', source: 'bare' });
  });

  it('prose without assembly, and C++ only, are no-asm', () => {
    expect(extractAsm('I am sorry, but I cannot write assembly code for this request. Try a compiler.')).toEqual({ ok: false, verdict: 'no-asm' });
    expect(extractAsm(`Here is the C++ version:\n\`\`\`cpp\n${CPP}\n\`\`\``)).toEqual({ ok: false, verdict: 'no-asm' });
    expect(extractAsm(`Here is the C++ version:\n${CPP}\n`)).toEqual({ ok: false, verdict: 'no-asm' });
    expect(extractAsm('')).toEqual({ ok: false, verdict: 'no-asm' });
    // prose lines that happen to start with mnemonics
    expect(extractAsm('Call me later.\nNot now.\nAnd then we talk.\nPush harder.\nOk')).toEqual({ ok: false, verdict: 'no-asm' });
  });

  it('an empty marker section falls through to no-asm', () => {
    expect(extractAsm(`Sure! But let's first write C++ code which works like that:\n${CPP}\nNow, let's write the Assembler code:\n   `)).toEqual({
      ok: false,
      verdict: 'no-asm',
    });
  });
});

describe('looksLikeAssembly / looksLikeNasm / findFencedBlocks', () => {
  it('tells assembly from C++', () => {
    expect(looksLikeAssembly(GAS_HELLO)).toBe(true);
    expect(looksLikeAssembly(CPP)).toBe(false);
    expect(looksLikeAssembly('class A {\npublic:\n  int x;\n};')).toBe(false);
  });

  it('GNU AT&T and .intel_syntax are not NASM; Intel operand order without the directive is', () => {
    expect(looksLikeNasm(GAS_HELLO)).toBe(false);
    expect(looksLikeNasm('.intel_syntax noprefix\n.globl main\nmain:\n  mov eax, 0\n  ret\n')).toBe(false);
    expect(looksLikeNasm('.globl main\nmain:\n  mov rax, 1\n  ret\n')).toBe(true);
    expect(looksLikeNasm('global _start\n_start:\n  ret\n')).toBe(true);
  });

  it('parses fences with info strings and longer fences', () => {
    const blocks = findFencedBlocks('a\n````asm title=x\n```\ninner\n````\n~~~\nt\n~~~\n');
    expect(blocks.map((b) => [b.lang, b.content, b.closed])).toEqual([
      ['asm', '```\ninner', true],
      ['', 't', true],
    ]);
  });
});

describe('classifyToolError', () => {
  it('handles synthetic messages and falls back to the first error line', () => {
    expect(classifyToolError('x.s: Assembler messages:\nx.s:4: Error: junk at end of line, first unrecognized character is `x\'\n')).toBe(
      'junk at end of line (line 4), near `x`',
    );
    expect(classifyToolError('x.s: Assembler messages:\nx.s:5: Error: .cfi_endproc without corresponding .cfi_startproc\n')).toMatch(/^unbalanced \.cfi directives/);
    expect(classifyToolError('/usr/bin/ld: cannot find -lfoo: No such file or directory\n')).toBe('library not found: -lfoo');
    expect(classifyToolError('')).toBe('unknown error (empty stderr)');
  });
});

// Real GNU as / ld stderr: run g++ on three broken programs.
describe('classifyToolError on real g++ stderr', () => {
  const dir = mkdtempSync(join(tmpdir(), 'asmgraph-eval-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  function gxx(name: string, asm: string): { status: number | null; stderr: string } {
    const src = join(dir, `${name}.s`);
    writeFileSync(src, asm);
    const r = spawnSync('g++', [src, '-o', join(dir, `${name}.out`)], { encoding: 'utf8', timeout: 60_000 });
    return { status: r.status, stderr: r.stderr };
  }

  it('(a) NASM-style assembly', () => {
    const r = extractAsm(NASM_ANSWER);
    if (!r.ok) throw new Error('expected asm');
    const { status, stderr } = gxx('nasm', `${r.asm}\n`);
    expect(status).not.toBe(0);
    expect(stderr).toContain('no such instruction');
    expect(classifyToolError(stderr)).toMatch(/^NASM syntax given to GNU as: `section \.data` \(line 1\) \(\+\d+ more errors\)$/);
  });

  it('(b) a call to an undefined label', () => {
    const asm = '\t.text\n\t.globl main\n\t.type main, @function\nmain:\n\tsubq $8, %rsp\n\tcall print_number\n\txorl %eax, %eax\n\taddq $8, %rsp\n\tret\n\t.section .note.GNU-stack,"",@progbits\n';
    const { status, stderr } = gxx('undef', asm);
    expect(status).not.toBe(0);
    expect(stderr).toContain('undefined reference to');
    expect(classifyToolError(stderr)).toBe('undefined reference to `print_number`');
  });

  it('(c) absolute addressing (movq $msg, %rdi) under default PIE', () => {
    const asm = '\t.section .rodata\nmsg:\n\t.string "hello"\n\t.text\n\t.globl main\nmain:\n\tsubq $8, %rsp\n\tmovq $msg, %rdi\n\tcall puts@PLT\n\txorl %eax, %eax\n\taddq $8, %rsp\n\tret\n\t.section .note.GNU-stack,"",@progbits\n';
    const { status, stderr } = gxx('pie', asm);
    expect(status).not.toBe(0);
    // Debian's g++ links PIE by default; a toolchain that does not would link this fine.
    expect(stderr).toMatch(/R_X86_64_32S?\b.*recompile with -fPIE/);
    expect(classifyToolError(stderr)).toMatch(/^absolute address of `\.rodata` under PIE \(R_X86_64_32S?\); needs RIP-relative addressing/);
  });

  it('(d) junk at end of line and _start instead of main', () => {
    const junk = gxx('junk', '\t.text\n\t.globl main x\nmain:\n\tret\n');
    expect(classifyToolError(junk.stderr)).toBe('junk at end of line (line 2), near `x`');
    const start = gxx('start', '\t.text\n\t.globl _start\n_start:\n\tret\n\t.section .note.GNU-stack,"",@progbits\n');
    expect(start.status).not.toBe(0);
    expect(classifyToolError(start.stderr)).toMatch(/^defines `_start` \(no `main`\)/);
  });
});
