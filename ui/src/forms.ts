//! Side-panel forms edit a copy of a stored item that live events may change underneath.

/** The form with every field still at its old stored value moved to the new stored value. */
export function rebase<F extends object>(form: F, before: F, after: F): F {
  const next = { ...form };
  for (const key of Object.keys(form) as (keyof F)[]) {
    if (form[key] === before[key]) next[key] = after[key];
  }
  return next;
}
