/**
 * Choosing the next token from the logits of the last position. Pure: the
 * random source is passed in (seeded from the request's `seed`), so the same
 * request and seed always give the same text.
 *
 * temperature 0 → greedy (arg max; ties go to the lowest id). Otherwise the
 * logits are divided by the temperature, turned into probabilities, cut to the
 * smallest set whose mass reaches `topP` (nucleus sampling), and one is drawn.
 */

export interface SamplingParams {
  temperature: number;
  topP: number;
}

export function argMax(logits: ArrayLike<number>, allowed: number): number {
  let best = 0;
  for (let i = 1; i < allowed; i++) if (logits[i]! > logits[best]!) best = i;
  return best;
}

/** `allowed` limits the choice to ids below it (the model's real vocabulary). */
export function sampleToken(logits: ArrayLike<number>, allowed: number, params: SamplingParams, random: () => number): number {
  if (params.temperature === 0) return argMax(logits, allowed);
  const max = logits[argMax(logits, allowed)]!;
  const order: number[] = [];
  const probs = new Float64Array(allowed);
  let sum = 0;
  for (let i = 0; i < allowed; i++) {
    const p = Math.exp((logits[i]! - max) / params.temperature);
    probs[i] = p;
    sum += p;
    order.push(i);
  }
  order.sort((a, b) => probs[b]! - probs[a]! || a - b);
  // Nucleus: keep the most likely tokens until their mass reaches top_p (at least one).
  let kept = 0;
  let mass = 0;
  while (kept < order.length && (kept === 0 || mass < params.topP * sum)) mass += probs[order[kept++]!]!;
  let draw = random() * mass;
  for (let k = 0; k < kept; k++) {
    const id = order[k]!;
    draw -= probs[id]!;
    if (draw < 0) return id;
  }
  return order[kept - 1]!;
}
