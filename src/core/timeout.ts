/**
 * A time limit on a call to a remote service (Clerk's Backend API): past it the call counts as failed, with an
 * `Outage` saying so; the call itself may still settle later, unobserved.
 */

/** A remote service did not answer in time, or could not be reached: not the caller's fault. */
export class Outage extends Error {}

/** Settles as `promise` does, or rejects with an `Outage` after `ms` milliseconds. The timer never keeps Node alive. */
export function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Outage(`no answer within ${ms} ms`)), ms);
    timer.unref?.();
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error instanceof Error ? error : new Error('the remote call failed'));
      },
    );
  });
}
