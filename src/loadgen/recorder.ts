/**
 * Collects a load run's numbers: overall latency histograms and a per-second
 * time series. Times are milliseconds from the run's start. Arrivals count in
 * the second they were scheduled for; completions, errors and latency
 * percentiles in the second they finished (what a monitor of the target sees).
 */
import { LatencyHistogram, type LatencySummary } from './histogram.ts';

export interface SecondStats {
  /** Seconds from the start: this entry covers [t, t + 1). */
  t: number;
  /** Arrivals the schedule put in this second (sent + dropped). */
  offered: number;
  sent: number;
  /** Arrivals not sent because the outstanding cap was reached. */
  dropped: number;
  /** Requests that finished in this second (responses and transport errors). */
  completed: number;
  ok: number;
  errors: number;
  /** HTTP status (e.g. "503") or transport error (e.g. "ECONNREFUSED", "timeout") → count. */
  errorsByCode: Record<string, number>;
  /** Successful responses per second. */
  achievedRps: number;
  /** Latency of this second's successful responses from their scheduled time; null when there were none. */
  p50Ms: number | null;
  p95Ms: number | null;
  p99Ms: number | null;
  /** Requests in flight at the end of the second. */
  outstanding: number;
}

export interface RunTotals {
  offered: number;
  sent: number;
  dropped: number;
  completed: number;
  ok: number;
  errors: number;
  /** Still in flight when the run stopped waiting for them. */
  unfinished: number;
  errorsByCode: Record<string, number>;
}

/** How one request ended; `status` for an HTTP answer, `errorCode` when none came. */
export interface Outcome {
  status?: number;
  errorCode?: string;
}

export function isSuccess(outcome: Outcome): boolean {
  return outcome.status !== undefined && outcome.status < 400;
}

export function codeOf(outcome: Outcome): string {
  return outcome.status !== undefined ? String(outcome.status) : (outcome.errorCode ?? 'error');
}

export class LoadRecorder {
  readonly latency = new LatencyHistogram(); // scheduled → response end (successes)
  readonly service = new LatencyHistogram(); // on the wire → response end (successes)
  readonly sendLag = new LatencyHistogram(); // scheduled → on the wire
  readonly totals: RunTotals = { offered: 0, sent: 0, dropped: 0, completed: 0, ok: 0, errors: 0, unfinished: 0, errorsByCode: {} };
  readonly series: SecondStats[] = [];
  #second = 0; // the second whose latencies `#current` holds
  #current = new LatencyHistogram();
  #lastCompletionMs = 0;

  /** The entry for second `index`, creating it (and any before it) if needed. */
  #at(index: number): SecondStats {
    while (this.series.length <= index) {
      this.series.push({
        t: this.series.length,
        offered: 0,
        sent: 0,
        dropped: 0,
        completed: 0,
        ok: 0,
        errors: 0,
        errorsByCode: {},
        achievedRps: 0,
        p50Ms: null,
        p95Ms: null,
        p99Ms: null,
        outstanding: 0,
      });
    }
    return this.series[index]!;
  }

  sent(scheduledMs: number): void {
    const s = this.#at(Math.floor(scheduledMs / 1000));
    s.offered++;
    s.sent++;
    this.totals.offered++;
    this.totals.sent++;
  }

  dropped(scheduledMs: number): void {
    const s = this.#at(Math.floor(scheduledMs / 1000));
    s.offered++;
    s.dropped++;
    this.totals.offered++;
    this.totals.dropped++;
  }

  /** A request finished at `endMs`; `sentMs` is when it went onto the wire (or was handed to the sender). */
  completed(scheduledMs: number, sentMs: number, endMs: number, outcome: Outcome): void {
    this.advanceTo(endMs);
    const s = this.#at(Math.floor(endMs / 1000));
    s.completed++;
    this.totals.completed++;
    if (endMs > this.#lastCompletionMs) this.#lastCompletionMs = endMs;
    this.sendLag.record(sentMs - scheduledMs);
    if (isSuccess(outcome)) {
      s.ok++;
      s.achievedRps++;
      this.totals.ok++;
      const latency = endMs - scheduledMs;
      this.latency.record(latency);
      this.#current.record(latency);
      this.service.record(endMs - sentMs);
    } else {
      const code = codeOf(outcome);
      s.errors++;
      s.errorsByCode[code] = (s.errorsByCode[code] ?? 0) + 1;
      this.totals.errors++;
      this.totals.errorsByCode[code] = (this.totals.errorsByCode[code] ?? 0) + 1;
    }
  }

  /** Requests sent and not yet finished. */
  get outstanding(): number {
    return this.totals.sent - this.totals.completed;
  }

  /** Closes every second before the one holding `nowMs`: their percentiles become final. */
  advanceTo(nowMs: number): void {
    const second = Math.floor(nowMs / 1000);
    while (this.#second < second) this.#close();
    this.#at(second);
  }

  /** Closes the last, partial second and counts what is still in flight as unfinished. */
  finish(nowMs: number): void {
    this.advanceTo(nowMs);
    this.#close();
    this.totals.unfinished = this.outstanding;
  }

  #close(): void {
    const s = this.#at(this.#second);
    if (this.#current.count > 0) {
      s.p50Ms = this.#current.percentile(50);
      s.p95Ms = this.#current.percentile(95);
      s.p99Ms = this.#current.percentile(99);
      this.#current.reset();
    }
    s.outstanding = this.outstanding;
    this.#second++;
  }

  get lastCompletionMs(): number {
    return this.#lastCompletionMs;
  }

  /** The last closed second, for a live progress line. */
  lastClosedSecond(): SecondStats | undefined {
    return this.#second > 0 ? this.series[this.#second - 1] : undefined;
  }

  summaries(): { latencyMs: LatencySummary; serviceLatencyMs: LatencySummary; sendLagMs: LatencySummary } {
    return { latencyMs: this.latency.summary(), serviceLatencyMs: this.service.summary(), sendLagMs: this.sendLag.summary() };
  }
}
