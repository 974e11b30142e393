/**
 * P(X ≥ k) for X ~ Binomial(n, p): how likely `k` or more failures among `n`
 * requests are if each fails with probability `p`. Analysis fails a canary only
 * when what it saw would be this unlikely from a revision that meets the
 * thresholds, so one unlucky error among the first fifty requests does not
 * roll back a good release. Summed in log space, so large `n` neither
 * underflows nor loses precision.
 */
export function binomialUpperTail(k: number, n: number, p: number): number {
  if (k <= 0) return 1;
  if (k > n) return 0;
  if (p <= 0) return 0;
  if (p >= 1) return 1;
  const logP = Math.log(p);
  const logQ = Math.log1p(-p);
  // log C(n, k) p^k q^(n-k), then each next term by the ratio (n-i)/(i+1) · p/q.
  let logTerm = logChoose(n, k) + k * logP + (n - k) * logQ;
  let logSum = logTerm;
  for (let i = k; i < n; i++) {
    logTerm += Math.log((n - i) / (i + 1)) + logP - logQ;
    if (logTerm < logSum - 40) {
      // Past the mode the terms only shrink: the rest cannot change the sum.
      if (i + 1 > n * p) break;
      continue;
    }
    logSum = logAddExp(logSum, logTerm);
  }
  return Math.min(1, Math.exp(logSum));
}

function logAddExp(a: number, b: number): number {
  const m = Math.max(a, b);
  return m + Math.log(Math.exp(a - m) + Math.exp(b - m));
}

function logChoose(n: number, k: number): number {
  const j = Math.min(k, n - k);
  let s = 0;
  for (let i = 1; i <= j; i++) s += Math.log((n - j + i) / i);
  return s;
}
