/**
 * Syntax highlighting on the server with highlight.js (core plus three grammars), so the page
 * ships no highlighter and every view is plain HTML. Returned per line, so that lines can carry
 * their source-line mapping.
 */
import hljs from 'highlight.js/lib/core';
import cpp from 'highlight.js/lib/languages/cpp';
import x86asm from 'highlight.js/lib/languages/x86asm';
import armasm from 'highlight.js/lib/languages/armasm';

hljs.registerLanguage('cpp', cpp);
hljs.registerLanguage('x86asm', x86asm);
hljs.registerLanguage('armasm', armasm);

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** Splits highlighted HTML into lines, closing and reopening spans that cross a line break. */
export function splitLines(html: string): string[] {
  const lines: string[] = [];
  const open: string[] = [];
  let cur = '';
  const re = /(<span[^>]*>)|(<\/span>)|(\n)|([^<\n]+|<)/g;
  for (let m = re.exec(html); m; m = re.exec(html)) {
    if (m[1]) {
      open.push(m[1]);
      cur += m[1];
    } else if (m[2]) {
      open.pop();
      cur += m[2];
    } else if (m[3]) {
      lines.push(cur + '</span>'.repeat(open.length));
      cur = open.join('');
    } else cur += m[4];
  }
  lines.push(cur + '</span>'.repeat(open.length));
  return lines;
}

const MAX_HIGHLIGHT = 400_000;

/** Highlighted lines of `text` in `lang` (plain escaped lines when too large to be worth it). */
export function highlightLines(text: string, lang: 'cpp' | 'x86asm' | 'armasm'): string[] {
  if (text.length > MAX_HIGHLIGHT) return text.split('\n').map(escapeHtml);
  return splitLines(hljs.highlight(text, { language: lang, ignoreIllegals: true }).value);
}

/** The grammar for a toolchain's assembly. */
export function asmLanguage(toolchain: string): 'x86asm' | 'armasm' {
  return /x86|amd64|i[3-6]86/.test(toolchain) ? 'x86asm' : 'armasm';
}
