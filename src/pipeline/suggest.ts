import { closest, distance } from 'fastest-levenshtein';

/** ` (did you mean "x"?)` when a known name is close to the unknown one, else ''. */
export function didYouMean(name: string, known: Iterable<string>): string {
  const list = [...known];
  if (list.length === 0) return '';
  const best = closest(name, list);
  const d = distance(name, best);
  return d <= Math.max(2, Math.floor(best.length / 3)) ? ` (did you mean "${best}"?)` : '';
}
