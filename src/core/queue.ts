/**
 * Per-key work queue: jobs for one key run one at a time in call order. Consecutive coalescable
 * jobs that are waiting together run once with the newest payload, and every one of their promises
 * resolves with that run's result — 1000 un-awaited saves cost a few durable writes, and each caller
 * learns of a durable state that includes its data.
 */

type Job =
  | { kind: 'exclusive'; run: () => Promise<unknown>; resolve: (v: unknown) => void; reject: (e: unknown) => void }
  | { kind: 'coalesce'; run: () => Promise<unknown>; resolve: (v: unknown) => void; reject: (e: unknown) => void };

interface Lane {
  jobs: Job[];
  running: boolean;
}

/** FIFO queues keyed by name. */
export class KeyedQueue {
  private readonly lanes = new Map<string, Lane>();

  /** Runs `run` alone for `key`, after every job queued before it. */
  exclusive<R>(key: string, run: () => Promise<R>): Promise<R> {
    return this.push(key, 'exclusive', run);
  }

  /**
   * Queues a job that may be merged with its waiting neighbours: when several are waiting, only the
   * newest runs, and all of them get its result.
   */
  coalesce<R>(key: string, run: () => Promise<R>): Promise<R> {
    return this.push(key, 'coalesce', run);
  }

  /** Resolves once every job queued so far (for every key) has finished. */
  async idle(): Promise<void> {
    const pending = [...this.lanes.keys()].map((key) => this.exclusive(key, async () => undefined));
    await Promise.all(pending);
  }

  private push<R>(key: string, kind: Job['kind'], run: () => Promise<R>): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      let lane = this.lanes.get(key);
      if (!lane) this.lanes.set(key, (lane = { jobs: [], running: false }));
      lane.jobs.push({ kind, run, resolve: resolve as (v: unknown) => void, reject });
      if (!lane.running) void this.drain(key, lane);
    });
  }

  private async drain(key: string, lane: Lane): Promise<void> {
    lane.running = true;
    while (lane.jobs.length > 0) {
      const first = lane.jobs[0]!;
      let batch: Job[];
      if (first.kind === 'exclusive') batch = lane.jobs.splice(0, 1);
      else {
        let n = 1;
        while (n < lane.jobs.length && lane.jobs[n]!.kind === 'coalesce') n++;
        batch = lane.jobs.splice(0, n);
      }
      const runner = batch[batch.length - 1]!;
      try {
        const result = await runner.run();
        for (const job of batch) job.resolve(result);
      } catch (err) {
        for (const job of batch) job.reject(err);
      }
    }
    lane.running = false;
    this.lanes.delete(key);
  }
}
