/**
 * Area under the ROC curve: the probability that a randomly chosen positive scores
 * higher than a randomly chosen negative, ties counting one half. Computed exactly
 * from ranks (Mann–Whitney U) in O(n log n).
 */
import { KarbError } from '../errors.ts';

export class AucUndefinedError extends KarbError {
  constructor(message: string) {
    super('AUC_UNDEFINED', message);
  }
}

/** `labels[i]` is 1 for a positive and 0 for a negative; `scores[i]` is the model's score. */
export function rocAuc(scores: ArrayLike<number>, labels: ArrayLike<number>): number {
  const n = scores.length;
  if (labels.length !== n) throw new AucUndefinedError(`got ${n} scores but ${labels.length} labels`);

  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => scores[a]! - scores[b]!);
  let positives = 0;
  let positiveRankSum = 0;
  // Walk groups of tied scores; every member of a group gets the group's average rank (1-based).
  for (let start = 0; start < n; ) {
    let end = start + 1;
    while (end < n && scores[order[end]!] === scores[order[start]!]) end++;
    const averageRank = (start + 1 + end) / 2;
    for (let k = start; k < end; k++) {
      const label = labels[order[k]!];
      if (label !== 0 && label !== 1) throw new AucUndefinedError(`label at index ${order[k]} is ${label}; labels must be 0 or 1`);
      if (label === 1) {
        positives++;
        positiveRankSum += averageRank;
      }
    }
    start = end;
  }

  const negatives = n - positives;
  if (positives === 0 || negatives === 0) {
    throw new AucUndefinedError(`AUC needs both classes; got ${positives} positives and ${negatives} negatives`);
  }
  return (positiveRankSum - (positives * (positives + 1)) / 2) / (positives * negatives);
}
