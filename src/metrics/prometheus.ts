import type { HistogramSnapshot } from './histogram.js';

/**
 * The Prometheus text exposition format (version 0.0.4), written by hand:
 * `# HELP` and `# TYPE` once per family, then one line per sample, labels
 * escaped as the format says. Pure: families in, text out.
 */
export type Labels = Record<string, string>;

export type MetricFamily =
  | { name: string; help: string; type: 'gauge' | 'counter'; samples: { labels?: Labels; value: number }[] }
  | { name: string; help: string; type: 'histogram'; samples: { labels?: Labels; histogram: HistogramSnapshot }[] };

export const CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

export function exposition(families: MetricFamily[]): string {
  const lines: string[] = [];
  for (const family of families) {
    if (!NAME.test(family.name)) throw new Error(`bad metric name "${family.name}"`);
    lines.push(`# HELP ${family.name} ${family.help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')}`);
    lines.push(`# TYPE ${family.name} ${family.type}`);
    if (family.type === 'histogram') {
      for (const { labels, histogram } of family.samples) {
        histogram.bounds.forEach((bound, i) => lines.push(sample(`${family.name}_bucket`, { ...labels, le: number(bound) }, histogram.cumulative[i]!)));
        lines.push(sample(`${family.name}_bucket`, { ...labels, le: '+Inf' }, histogram.count));
        lines.push(sample(`${family.name}_sum`, labels, histogram.sum));
        lines.push(sample(`${family.name}_count`, labels, histogram.count));
      }
    } else {
      for (const { labels, value } of family.samples) lines.push(sample(family.name, labels, value));
    }
  }
  return lines.join('\n') + '\n';
}

function sample(name: string, labels: Labels | undefined, value: number): string {
  const entries = Object.entries(labels ?? {});
  if (entries.length === 0) return `${name} ${number(value)}`;
  const text = entries
    .map(([key, v]) => {
      if (!LABEL_NAME.test(key)) throw new Error(`bad label name "${key}"`);
      return `${key}="${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`;
    })
    .join(',');
  return `${name}{${text}} ${number(value)}`;
}

function number(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Infinity) return '+Inf';
  if (value === -Infinity) return '-Inf';
  return String(value);
}
