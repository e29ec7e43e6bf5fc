//! Side-panel forms edit a copy of a stored item that live events may change underneath.

/** Equal as the API would see them: the same value, or lists and objects with the same JSON. */
export function same(a: unknown, b: unknown): boolean {
  return Object.is(a, b) || (typeof a === "object" && typeof b === "object" && JSON.stringify(a) === JSON.stringify(b));
}

/** The form with every field still at its old stored value moved to the new stored value. */
export function rebase<F extends object>(form: F, before: F, after: F): F {
  const next = { ...form };
  for (const key of Object.keys(form) as (keyof F)[]) {
    if (same(form[key], before[key])) next[key] = after[key];
  }
  return next;
}

/**
 * The engine's message for a field without its leading field name ("calls_per_second: must be
 * between 0.01 and 500" → "Must be between 0.01 and 500"), for showing under that field.
 */
export function fieldMessage(message: string, field: string | null): string {
  const bare = field !== null && message.startsWith(`${field}: `) ? message.slice(field.length + 2) : message;
  return bare.charAt(0).toUpperCase() + bare.slice(1);
}

/** An engine message as a sentence of its own: capitalised, ending in a full stop ("the
 * microphone 'x' is not available" → "The microphone 'x' is not available."). */
export function sentence(message: string): string {
  const text = message.trim();
  if (text === "") return text;
  const capital = text.charAt(0).toUpperCase() + text.slice(1);
  return /[.!?]$/.test(capital) ? capital : `${capital}.`;
}
