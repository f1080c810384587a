/**
 * A young-generation collection once the daemon has been quiet for `quietMs` after a burst of work (an
 * event step's background file write, a sync). The next ECS task event then finds the young generation
 * nearly empty, and its step is not paused by a scavenge of what the burst left behind (2–8 ms each at
 * 1,000 Servers, bench 8c). Needs node's --expose-gc (the entrypoint's flags); without it, nothing.
 */
export function youngGcWhenQuiet(quietMs = 50): () => void {
  const gc = (globalThis as { gc?: (options: { type: 'minor' }) => void }).gc;
  if (gc === undefined) return () => undefined;
  let timer: NodeJS.Timeout | undefined;
  const collect = () => {
    timer = undefined;
    gc({ type: 'minor' });
  };
  return () => {
    if (timer) timer.refresh();
    else timer = setTimeout(collect, quietMs).unref();
  };
}
