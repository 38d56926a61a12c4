// Stopping a walt extract run on SIGINT or SIGTERM. The first signal stops the decoders (no new
// batch starts) and gives the run a grace period to finish the current batch and shard; a second
// signal, or the end of the grace period, stops it at once: every wait raced with `orStop` then
// rejects with StopNow, and the unfinished shard is recomputed by the next run.

/** Thrown inside the loop when the run must stop at once. */
export class StopNow extends Error {}

/** The stop state of one run; the process handlers are installed on construction (unless disabled). */
export class RunStopper {
  /** Aborted when the run must stop at once. */
  readonly hard = new AbortController();
  /** Aborted at the first signal: stops the decoders, so no new batch starts. */
  readonly feeding = new AbortController();
  /** The first signal received, or null. */
  signal: 'SIGINT' | 'SIGTERM' | null = null;
  private graceTimer: NodeJS.Timeout | undefined;
  private readonly grace: number;
  private readonly say: (s: string) => void;
  private readonly handleSignals: boolean;
  private readonly onInt = (): void => this.onSignal('SIGINT');
  private readonly onTerm = (): void => this.onSignal('SIGTERM');

  /**
   * @param grace seconds to finish the current batch and shard after the first signal
   * @param say reports to the user and the run's log
   * @param handleSignals install SIGINT/SIGTERM handlers on the process
   */
  constructor(grace: number, say: (s: string) => void, handleSignals: boolean) {
    this.grace = grace;
    this.say = say;
    this.handleSignals = handleSignals;
    if (handleSignals) {
      process.on('SIGINT', this.onInt);
      process.on('SIGTERM', this.onTerm);
    }
  }

  /** The first signal finishes the current batch and shard within the grace period; a second one stops at once. */
  onSignal(sig: 'SIGINT' | 'SIGTERM'): void {
    const grace = this.grace;
    if (this.signal === null) {
      this.signal = sig;
      this.feeding.abort();
      this.say(
        `${sig}: finishing the current batch and shard (up to ${grace} s; ${sig === 'SIGINT' ? 'Ctrl-C' : 'a second signal'} again stops at once)`,
      );
      this.graceTimer = setTimeout(() => {
        this.say(
          `${sig}: the ${grace} s grace period is over: stopping now (the unfinished shard is recomputed next run)`,
        );
        this.hard.abort();
      }, grace * 1000);
      this.graceTimer.unref();
    } else if (!this.hard.signal.aborted) {
      this.say(`${sig}: stopping now (the unfinished shard is recomputed next run)`);
      this.hard.abort();
    }
  }

  /** Waits for `p` unless the run must stop at once (then rejects with StopNow). */
  orStop<T>(p: Promise<T>): Promise<T> {
    const hard = this.hard;
    if (hard.signal.aborted) {
      p.catch(() => undefined);
      return Promise.reject(new StopNow());
    }
    return new Promise<T>((res, rej) => {
      const onAbort = (): void => rej(new StopNow());
      hard.signal.addEventListener('abort', onAbort, { once: true });
      p.then(
        (v) => {
          hard.signal.removeEventListener('abort', onAbort);
          res(v);
        },
        (e: unknown) => {
          hard.signal.removeEventListener('abort', onAbort);
          rej(e instanceof Error ? e : new Error(String(e)));
        },
      );
    });
  }

  /**
   * Clears the grace timer and removes the process handlers. After a signal, the process is on its
   * way out (the caller exits 130 or 143 once the device is closed); a further signal during that
   * shutdown exits at once with the same status (everything written is already complete) rather
   * than falling to Node's default, which would kill the process without an exit status.
   */
  close(): void {
    clearTimeout(this.graceTimer);
    if (this.handleSignals) {
      process.off('SIGINT', this.onInt);
      process.off('SIGTERM', this.onTerm);
      if (this.signal !== null) {
        const code = this.signal === 'SIGTERM' ? 143 : 130;
        const now = (sig: NodeJS.Signals): void => {
          this.say(`${sig}: stopped at once during shutdown (every shard written is complete)`);
          process.exit(code);
        };
        process.once('SIGINT', now);
        process.once('SIGTERM', now);
      }
    }
  }
}
