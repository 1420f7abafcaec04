// Small hand-made SVG charts: a bar chart and an area chart are all the console needs, and a
// charting library would weigh more than the whole console.

const WIDTH = 600;
const AXIS = 16;

export interface Bar {
  key: string;
  value: number;
  /** Shown on hover. */
  title: string;
  tone?: 'normal' | 'bad' | 'muted';
}

interface ChartFrame {
  /** What the chart shows, for screen readers and as its heading. */
  label: string;
  height?: number;
  /** Under the first and the last bar (or point). */
  from?: string;
  to?: string;
  unit?: string;
}

function Axis({ height, max, from, to, unit }: { height: number; max: number } & ChartFrame) {
  return (
    <g className="chart-axis">
      <line x1={0} x2={WIDTH} y1={height} y2={height} />
      <line x1={0} x2={WIDTH} y1={0.5} y2={0.5} className="chart-grid" />
      <text x={4} y={12}>
        {max.toLocaleString('en-GB')}
        {unit ? ` ${unit}` : ''}
      </text>
      {from !== undefined && (
        <text x={0} y={height + AXIS - 3}>
          {from}
        </text>
      )}
      {to !== undefined && (
        <text x={WIDTH} y={height + AXIS - 3} textAnchor="end">
          {to}
        </text>
      )}
    </g>
  );
}

/** One bar per value, scaled to the largest (or to `max`). */
export function BarChart({ bars, max, ...frame }: { bars: readonly Bar[]; max?: number } & ChartFrame) {
  const height = frame.height ?? 90;
  const top = Math.max(max ?? 0, ...bars.map((b) => b.value), 1);
  const slot = WIDTH / Math.max(bars.length, 1);
  const gap = slot > 6 ? 1 : 0;
  return (
    <figure className="chart">
      <figcaption>{frame.label}</figcaption>
      <svg viewBox={`0 0 ${WIDTH} ${height + AXIS}`} role="img" aria-label={frame.label}>
        {bars.map((bar, i) => {
          const h = (bar.value / top) * (height - 16);
          return (
            <rect
              key={bar.key}
              x={i * slot + gap / 2}
              y={height - h}
              width={Math.max(slot - gap, 0.5)}
              height={Math.max(h, bar.value > 0 ? 1 : 0)}
              className={`bar bar-${bar.tone ?? 'normal'}`}
            >
              <title>{bar.title}</title>
            </rect>
          );
        })}
        <Axis height={height} max={top} {...frame} />
      </svg>
      {bars.length === 0 && <p className="chart-empty">no data yet</p>}
    </figure>
  );
}

/** A filled line through the values, evenly spaced. */
export function AreaChart({ values, ...frame }: { values: readonly number[] } & ChartFrame) {
  const height = frame.height ?? 90;
  const top = Math.max(...values, 1);
  const step = WIDTH / Math.max(values.length - 1, 1);
  const points = values.map(
    (v, i) => `${(i * step).toFixed(1)},${(height - (v / top) * (height - 16)).toFixed(1)}`,
  );
  return (
    <figure className="chart">
      <figcaption>{frame.label}</figcaption>
      <svg viewBox={`0 0 ${WIDTH} ${height + AXIS}`} role="img" aria-label={frame.label}>
        {values.length > 1 && (
          <>
            <polygon className="area" points={`0,${height} ${points.join(' ')} ${WIDTH},${height}`} />
            <polyline className="area-line" points={points.join(' ')} />
          </>
        )}
        <Axis height={height} max={Math.round(top * 10) / 10} {...frame} />
      </svg>
      {values.length <= 1 && <p className="chart-empty">no data yet</p>}
    </figure>
  );
}
