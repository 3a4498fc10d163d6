// Appending one array to another. `a.push(...b)` passes every item as an argument, and a large b
// (100k issues, commands of a big lab) overflows the call stack.

export function appendAll<T>(target: T[], items: readonly T[]): T[] {
  for (const item of items) target.push(item);
  return target;
}
