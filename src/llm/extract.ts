/**
 * Pulling C++ source out of a model's answer.
 */

const CPP_LANGS = new Set(['cpp', 'c++', 'cc', 'cxx', 'hpp', 'h', 'c', 'cplusplus']);

interface Fence {
  lang: string;
  code: string;
}

/** Fenced blocks (``` or ~~~), including a last unclosed one (an answer cut off by max_tokens). */
function fences(text: string): Fence[] {
  const lines = text.split(/\r?\n/);
  const out: Fence[] = [];
  let open: { marker: string; lang: string; body: string[] } | null = null;
  for (const line of lines) {
    const m = /^\s*(`{3,}|~{3,})\s*([^\s`]*)/.exec(line);
    if (!open) {
      if (m) open = { marker: m[1]!, lang: m[2]!.toLowerCase(), body: [] };
      continue;
    }
    if (m && m[1]!.startsWith(open.marker[0]!) && m[1]!.length >= open.marker.length && m[2] === '') {
      out.push({ lang: open.lang, code: open.body.join('\n') });
      open = null;
      continue;
    }
    open.body.push(line);
  }
  if (open) out.push({ lang: open.lang, code: open.body.join('\n') });
  return out;
}

const CODE_START = /^(#\s*[a-z]+|\/\/|\/\*|\*|\*\/|[{}]|(template|class|struct|namespace|using|typedef|enum|union|int|void|char|bool|double|float|long|short|unsigned|signed|auto|const|constexpr|static|inline|extern|return|for|while|do|if|else|switch|case|default|break|continue|std::|size_t|uint\d+_t|int\d+_t)\b)/;

/** Whether one line looks like C++ rather than prose. */
export function isCodeLine(line: string): boolean {
  const t = line.trim();
  if (t === '') return false;
  if (CODE_START.test(t)) return true;
  if (/[;{}]\s*(\/\/.*)?$/.test(t)) return true; // ends with ; { } (maybe a trailing comment)
  if (/^[A-Za-z_][\w:<>,\s*&]*\s+[*&]?[A-Za-z_]\w*\s*\([^)]*\)\s*(const)?\s*$/.test(t)) return true; // a signature line
  if (/^\w+\s*\(.*\)\s*;?$/.test(t) && !/\s\w+\s\w+\s\w+/.test(t)) return true;
  return false;
}

function looksLikeCpp(code: string): boolean {
  if (/#\s*include\b/.test(code) || /\bint\s+main\s*\(/.test(code)) return true;
  const lines = code.split('\n').filter((l) => l.trim() !== '');
  const codeLines = lines.filter(isCodeLine).length;
  return codeLines >= 2 && /[{};]/.test(code) && codeLines >= lines.length / 2;
}

function trimBlank(code: string): string {
  return code.replace(/^\s*\n/, '').replace(/\s+$/, '') + '\n';
}

/**
 * The C++ program in a model answer: the best fenced block (```cpp / ```c++ / plain ```), else the
 * whole text without stray prose lines before and after the code. Null when nothing looks like code.
 */
export function extractCpp(text: string): string | null {
  if (typeof text !== 'string' || text.trim() === '') return null;
  const blocks = fences(text).filter((b) => b.code.trim() !== '');
  if (blocks.length) {
    const cpp = blocks.filter((b) => CPP_LANGS.has(b.lang));
    const plain = blocks.filter((b) => b.lang === '' && looksLikeCpp(b.code));
    const pick = (bs: Fence[]) => bs.reduce((a, b) => (b.code.length > a.code.length ? b : a));
    if (cpp.length) return trimBlank(pick(cpp).code);
    if (plain.length) return trimBlank(pick(plain).code);
    // Fences of other languages only (```asm, ```sh): look at the prose outside them instead.
    const outside = text.replace(/(`{3,}|~{3,})[\s\S]*?(\1|$)/g, '');
    return unfenced(outside);
  }
  return unfenced(text);
}

function unfenced(text: string): string | null {
  const lines = text.split(/\r?\n/);
  let first = lines.findIndex(isCodeLine);
  if (first < 0) return null;
  let last = lines.length - 1;
  while (last > first && !isCodeLine(lines[last]!)) last--;
  // Keep a comment block or blank line that directly precedes the first code line.
  while (first > 0 && /^\s*(\/\/|\/\*|\*)/.test(lines[first - 1]!)) first--;
  const code = lines.slice(first, last + 1).join('\n');
  return looksLikeCpp(code) ? trimBlank(code) : null;
}
