// Duplicate keys, found in one pass with a set per mapping: the parser's own check compares each
// key with every earlier one of its mapping, which grows with the square of a big `hosts:`.
import type { Document, Node } from 'yaml';
import { yamlLibrary } from './yaml-library.js';

/** The start offset of every key that repeats an earlier key of its mapping, in text order. */
export function duplicateKeyOffsets(doc: Document.Parsed): number[] {
  const { isAlias, isCollection, isMap, isPair, isScalar } = yamlLibrary();
  const out: number[] = [];
  // A stack rather than recursion: nesting as deep as the parser accepts must not overflow here.
  const todo: unknown[] = [doc.contents];
  while (todo.length) {
    const node = todo.pop();
    if (!isCollection(node)) continue;
    // Keys as data sees them: `1` and "1" are the same property once converted.
    const seen = isMap(node) ? new Set<string>() : null;
    for (const item of node.items) {
      if (!isPair(item)) {
        todo.push(item);
        continue;
      }
      const key = item.key as Node | null;
      if (seen && isScalar(key) && !isAlias(key)) {
        const name = String(key.value);
        if (seen.has(name)) out.push(key.range?.[0] ?? 0);
        else seen.add(name);
      }
      todo.push(item.value);
    }
  }
  return out.sort((a, b) => a - b);
}
