import { describe, expect, it } from 'vitest';
import { extractCpp } from '../src/llm/extract.js';

const PROG = '#include <iostream>\n\nint main() {\n    std::cout << "hi" << std::endl;\n    return 0;\n}';

describe('extractCpp', () => {
  it('takes a ```cpp block', () => {
    expect(extractCpp(`Here you go:\n\n\`\`\`cpp\n${PROG}\n\`\`\`\n\nThis prints hi.`)).toBe(PROG + '\n');
  });

  it('takes ```c++ and plain ``` blocks', () => {
    expect(extractCpp(`\`\`\`c++\n${PROG}\n\`\`\``)).toBe(PROG + '\n');
    expect(extractCpp(`Program:\n\`\`\`\n${PROG}\n\`\`\`\nDone.`)).toBe(PROG + '\n');
  });

  it('prefers the C++ block over other languages (C++ then assembly answers)', () => {
    const text = `### C++ Code\n\`\`\`cpp\n${PROG}\n\`\`\`\n### Assembly\n\`\`\`assembly\nsection .text\nglobal _start\n_start:\n  mov rax, 60\n  syscall\n  ; much longer than the C++ block, padding padding padding padding padding\n\`\`\`\n\`\`\`sh\nnasm -f elf64 sum.asm\n\`\`\``;
    expect(extractCpp(text)).toBe(PROG + '\n');
  });

  it('takes an unclosed fence (answer cut off by max_tokens)', () => {
    expect(extractCpp('```cpp\nint main() {\n  int x = 1;\n')).toBe('int main() {\n  int x = 1;\n');
  });

  it('strips stray prose before and after unfenced code', () => {
    const text = `Sure! Here is the program you asked for:\n${PROG}\nThis program prints hi to the screen.\nLet me know if you need more.`;
    expect(extractCpp(text)).toBe(PROG + '\n');
  });

  it('keeps a leading comment and the whole code when the answer is only code', () => {
    const code = `// Bubble sort\n${PROG}`;
    expect(extractCpp(code)).toBe(code + '\n');
    expect(extractCpp(`Intro text here.\n// Bubble sort\n${PROG}`)).toBe(code + '\n');
  });

  it('stops before assembly that follows unfenced C++ (the AssemblerGPT answer shape)', () => {
    const text = `Sure! But let's first write C++ code which works like that:\n${PROG}\nNow, let's write the Assembler code:\n\t.file\t"cppcode.cpp"\n\t.text\n#APP\nmain:\n\tpushq\t%rbp\n\tmovl\t$8, -12(%rbp)\n\tret`;
    expect(extractCpp(text)).toBe(PROG + '\n');
  });

  it('returns null when nothing looks like code', () => {
    expect(extractCpp('')).toBeNull();
    expect(extractCpp('I am sorry, but I cannot help with that request.')).toBeNull();
    expect(extractCpp('Write a program that adds two numbers.\nIt should print the sum.')).toBeNull();
    expect(extractCpp('```sh\nls -la\n```\nThat lists files.')).toBeNull();
  });
});
