// uPlot in React: a canvas chart that stays fast with 10 000s of points. The figure carries an
// accessible name and a text summary; the chart itself is drawn once per data change and resized
// with its container.
import { useEffect, useRef } from "react";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";

export const SERIES_COLORS = ["#1d4ed8", "#c2410c", "#15803d", "#7e22ce", "#be123c", "#0e7490", "#a16207", "#4b5563"];

export interface ChartProps {
  title: string;
  summary: string; // what the chart shows, in words, for screen readers
  options: Omit<uPlot.Options, "width" | "height">;
  data: uPlot.AlignedData;
  height?: number;
  wide?: boolean; // the whole row of a chart grid
}

export function Chart({ title, summary, options, data, height = 260, wide = false }: ChartProps) {
  const container = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);

  useEffect(() => {
    const element = container.current;
    if (!element) return;
    const width = Math.max(element.clientWidth, 280);
    plot.current = new uPlot({ ...options, width, height } as uPlot.Options, data, element);
    const observer = new ResizeObserver(() => {
      plot.current?.setSize({ width: Math.max(element.clientWidth, 280), height });
    });
    observer.observe(element);
    return () => {
      observer.disconnect();
      plot.current?.destroy();
      plot.current = null;
    };
    // Options change shape rarely; rebuilding on data identity keeps this simple and fast enough.
  }, [options, data, height]);

  return (
    <figure className={wide ? "chart wide" : "chart"} aria-label={title}>
      <figcaption>{title}</figcaption>
      <div ref={container} className="chart-canvas" role="img" aria-label={`${title}: ${summary}`} />
    </figure>
  );
}

export function seriesColor(index: number): string {
  return SERIES_COLORS[index % SERIES_COLORS.length];
}
