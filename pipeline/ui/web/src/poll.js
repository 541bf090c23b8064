// Live data: load, then load again every `interval` ms while the tab is visible, and at once on the
// `ui:refresh` event (the `r` shortcut). Changing `deps` reloads at once (the previous answer stays shown until the new one arrives); an answer that lost
// the race to a newer request is dropped (its request is aborted).
import { useLayoutEffect, useRef, useState } from 'preact/hooks';

export function usePolling(load, deps, interval) {
  const [state, setState] = useState({ data: null, error: null, loading: true, updatedAt: null });
  const trigger = useRef(() => {});
  // A layout effect: the first request leaves before the first paint instead of after it.
  useLayoutEffect(() => {
    let stopped = false;
    let timer = null;
    let controller = null;
    const schedule = () => {
      clearTimeout(timer);
      if (!stopped && interval > 0) timer = setTimeout(run, interval);
    };
    const run = async () => {
      clearTimeout(timer);
      if (document.hidden) return; // visibilitychange resumes
      controller?.abort();
      const own = (controller = new AbortController());
      setState((s) => (s.loading ? s : { ...s, loading: true }));
      try {
        const data = await load(own.signal);
        if (stopped || own.signal.aborted) return;
        setState({ data, error: null, loading: false, updatedAt: new Date() });
      } catch (error) {
        if (stopped || own.signal.aborted || error.name === 'AbortError') return;
        setState((s) => ({ ...s, error, loading: false }));
      }
      schedule();
    };
    const onVisibility = () => {
      if (!document.hidden) run();
    };
    trigger.current = run;
    document.addEventListener('visibilitychange', onVisibility);
    window.addEventListener('ui:refresh', run);
    run();
    return () => {
      stopped = true;
      clearTimeout(timer);
      controller?.abort();
      document.removeEventListener('visibilitychange', onVisibility);
      window.removeEventListener('ui:refresh', run);
    };
  }, [...deps, interval]);
  return [state, () => trigger.current()];
}
