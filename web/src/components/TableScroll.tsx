import type { ReactNode } from "react";

// A wide table scrolls inside its box at phone width; the box takes keyboard focus so the
// scrolling works without a pointer.
export function TableScroll({ label, children }: { label: string; children: ReactNode }) {
  return (
    <div className="table-scroll" role="region" aria-label={label} tabIndex={0}>
      {children}
    </div>
  );
}
