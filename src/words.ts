// Counted nouns in messages: "1 step", "2 steps".

/** `n` and the noun, plural unless n is 1 (`plural` for nouns that do not just take an "s"). */
export function counted(n: number, noun: string, plural = `${noun}s`): string {
  return `${n} ${n === 1 ? noun : plural}`;
}
