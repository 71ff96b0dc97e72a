import { elementScroll, observeElementOffset, observeElementRect, Virtualizer } from '@tanstack/virtual-core';
import type { ComponentChildren } from 'preact';
import { useEffect, useLayoutEffect, useReducer, useRef, useState } from 'preact/hooks';

export interface VirtualListProps<T> {
  readonly items: readonly T[];
  /** A first guess of a row's height; rows are measured once drawn (expanded records grow). */
  readonly estimate: number;
  readonly height: number | string;
  readonly itemKey: (item: T, index: number) => string;
  readonly render: (item: T, index: number) => ComponentChildren;
  readonly testId?: string;
  readonly class?: string;
}

/** A scrolling list that draws only the rows in view (TanStack virtual-core). */
export function VirtualList<T>({
  items,
  estimate,
  height,
  itemKey,
  render,
  testId,
  class: cls,
}: VirtualListProps<T>) {
  const scroller = useRef<HTMLDivElement>(null);
  const [, rerender] = useReducer((n: number) => n + 1, 0);
  const [v] = useState(
    () =>
      new Virtualizer<HTMLDivElement, HTMLDivElement>({
        count: items.length,
        getScrollElement: () => scroller.current,
        estimateSize: () => estimate,
        scrollToFn: elementScroll,
        observeElementRect,
        observeElementOffset,
        onChange: () => rerender(0),
        overscan: 8,
      }),
  );
  v.setOptions({
    ...v.options,
    count: items.length,
    getItemKey: (i) => itemKey(items[i]!, i),
  });
  useEffect(() => v._didMount(), [v]);
  useLayoutEffect(() => {
    v._willUpdate();
  });
  const rows = v.getVirtualItems();
  return (
    <div
      class={`vlist ${cls ?? ''}`}
      ref={scroller}
      style={{ height, overflowY: 'auto' }}
      data-testid={testId}
    >
      <div style={{ height: `${v.getTotalSize()}px`, position: 'relative' }}>
        {rows.map((row) => (
          <div
            key={row.key as string}
            data-index={row.index}
            ref={(el) => {
              if (el) v.measureElement(el);
            }}
            class="vrow"
            style={{
              position: 'absolute',
              top: 0,
              left: 0,
              right: 0,
              transform: `translateY(${row.start}px)`,
            }}
          >
            {render(items[row.index]!, row.index)}
          </div>
        ))}
      </div>
    </div>
  );
}
