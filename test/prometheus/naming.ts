/**
 * karb's metric naming rules, checked on a component's /metrics text (for the tests here),
 * on top of what `promtool check metrics` lints:
 * - every family is `karb_` + snake_case;
 * - a counter's name ends in `_total`, and nothing else's does;
 * - units are base units, spelled out (`_seconds`, never `_ms` or `_milliseconds`);
 * - no two families share a series name, nor a family name once OpenMetrics drops a counter's
 *   `_total` (a gauge `x` beside a counter `x_total` is one family there).
 */

export function namingProblems(text: string): string[] {
  const problems: string[] = [];
  const owner = new Map<string, string>();
  const claim = (name: string, family: string): void => {
    const other = owner.get(name);
    if (other !== undefined && other !== family) problems.push(`${family} and ${other} both claim the name ${name}`);
    owner.set(name, family);
  };
  for (const [, name, type] of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    if (!/^karb_[a-z0-9]+(_[a-z0-9]+)*$/.test(name!)) problems.push(`${name}: not karb_ and snake_case`);
    if ((type === 'counter') !== name!.endsWith('_total')) problems.push(`${name}: a ${type}${type === 'counter' ? ' must end in _total' : ' must not end in _total'}`);
    if (/_(ms|msec|milliseconds|microseconds|us|ns|minutes|hours|kb|mb|kilobytes|megabytes)(_|$)/.test(name!)) problems.push(`${name}: not a base unit (seconds, bytes)`);
    claim(name!, name!);
    if (type === 'counter') claim(name!.replace(/_total$/, ''), name!);
    if (type === 'histogram' || type === 'summary') for (const suffix of ['_bucket', '_sum', '_count']) claim(name! + suffix, name!);
  }
  return problems;
}
