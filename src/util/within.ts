/**
 * Resolves true when `work` settles within `ms`, false when the deadline comes first (the work goes on,
 * unwaited: the caller exits and the process takes what is left with it). A rejection counts as settled:
 * the closers log their own errors.
 */
export function within(work: Promise<unknown>, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    const done = () => {
      clearTimeout(timer);
      resolve(true);
    };
    work.then(done, done);
  });
}
