// A virtual list scrolled by the window: only the rows near the viewport are in the DOM, so 10,000
// alerts cost as much to render as a screenful. Rows may have any height (measured as they render,
// by @tanstack/virtual-core with a ResizeObserver). Re-rendering with new items keeps the window's
// scroll position: nothing here scrolls unless asked.
import { Virtualizer, observeWindowOffset, observeWindowRect, windowScroll } from '@tanstack/virtual-core';
import { useLayoutEffect, useReducer, useRef, useState } from 'preact/hooks';

function useWindowVirtualizer(options) {
  const [, rerender] = useReducer((n) => n + 1, 0);
  const resolved = {
    getScrollElement: () => window,
    observeElementRect: observeWindowRect,
    observeElementOffset: observeWindowOffset,
    scrollToFn: windowScroll,
    initialOffset: () => window.scrollY,
    ...options,
    onChange: () => rerender(),
  };
  const [instance] = useState(() => new Virtualizer(resolved));
  instance.setOptions(resolved);
  useLayoutEffect(() => instance._didMount(), []);
  useLayoutEffect(() => instance._willUpdate());
  return instance;
}

export function VirtualList({ items, getKey, estimateSize, renderItem, overscan = 6, className = '', label, listRef }) {
  const own = useRef(null);
  const ref = listRef || own;
  const [margin, setMargin] = useState(0);
  useLayoutEffect(() => {
    const element = ref.current;
    if (!element) return;
    const top = Math.round(element.getBoundingClientRect().top + window.scrollY);
    if (top !== margin) setMargin(top);
  });
  const virtualizer = useWindowVirtualizer({
    count: items.length,
    estimateSize: (index) => estimateSize(items[index]),
    getItemKey: (index) => getKey(items[index]),
    overscan,
    scrollMargin: margin,
  });
  const rows = virtualizer.getVirtualItems();
  const offset = rows.length ? rows[0].start - margin : 0;
  return (
    <div ref={ref} class={`vlist ${className}`} role="list" aria-label={label} style={{ height: `${virtualizer.getTotalSize()}px` }}>
      <div class="vlist-window" style={{ transform: `translateY(${offset}px)` }}>
        {rows.map((row) => (
          <div key={row.key} data-index={row.index} ref={virtualizer.measureElement} role="listitem">
            {renderItem(items[row.index], row.index)}
          </div>
        ))}
      </div>
    </div>
  );
}
