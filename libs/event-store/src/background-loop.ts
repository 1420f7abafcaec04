import { performance } from 'node:perf_hooks';

import { Logger } from '@nestjs/common';

export interface LoopStatus {
  running: boolean;
  /** Consecutive failed steps; 0 when the last step succeeded. */
  failures: number;
  lastError?: string;
  failingSince?: Date;
}

export interface BackgroundLoopOptions {
  /** Wait between steps when there is nothing to do and no wake-up comes. */
  pollMs: number;
  /**
   * After an idle step, a wake-up runs the next step no sooner than this after the idle one began:
   * under a steady stream of wake-ups (one per append) the work is coalesced into fewer, larger steps.
   * A step that reports more work is followed at once. Default 0 (no coalescing).
   */
  minWakeIntervalMs?: number;
  /** Back-off after a failure doubles from here... */
  minBackoffMs?: number;
  /** ...up to here, and stays there until a step succeeds. */
  maxBackoffMs?: number;
}

/**
 * Runs `step` over and over in the background: at once while it reports more work, on `wake()`, and
 * every `pollMs` otherwise. A failing step is logged and retried with exponential back-off, forever:
 * a background worker of ours never dies silently and never takes the process down.
 */
export class BackgroundLoop {
  private readonly logger: Logger;
  private running = false;
  private current: Promise<void> | undefined;
  private wakeUp: (() => void) | undefined;
  private woken = false;
  /** During a back-off, wake-ups wait: a failing dependency must not be hammered by notifications. */
  private backingOff = false;
  private readonly state: LoopStatus = { running: false, failures: 0 };

  constructor(
    readonly name: string,
    private readonly step: () => Promise<boolean>,
    private readonly options: BackgroundLoopOptions,
  ) {
    this.logger = new Logger(name);
  }

  start(): void {
    if (this.running) {
      return;
    }
    this.running = true;
    this.state.running = true;
    this.current = this.loop();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.state.running = false;
    this.wakeUp?.();
    await this.current;
  }

  wake(): void {
    this.woken = true;
    if (!this.backingOff) {
      this.wakeUp?.();
    }
  }

  status(): LoopStatus {
    return { ...this.state };
  }

  private async loop(): Promise<void> {
    const min = this.options.minBackoffMs ?? 100;
    const max = this.options.maxBackoffMs ?? 30_000;
    while (this.running) {
      let delay = this.options.pollMs;
      this.woken = false;
      this.backingOff = false;
      // Monotonic: a wall-clock step back must not turn the coalescing wait into hours.
      const stepStarted = performance.now();
      let wokenUp = false;
      try {
        const more = await this.step();
        if (this.state.failures > 0) {
          this.logger.log(`recovered after ${this.state.failures} failed attempt(s)`);
        }
        this.state.failures = 0;
        this.state.lastError = undefined;
        this.state.failingSince = undefined;
        if (more) {
          continue;
        }
        wokenUp = this.woken;
      } catch (error) {
        this.state.failures += 1;
        this.state.lastError = error instanceof Error ? error.message : String(error);
        this.state.failingSince ??= new Date();
        delay = Math.min(max, min * 2 ** (this.state.failures - 1));
        this.backingOff = true;
        this.woken = false;
        this.logger.error(
          `step failed (attempt ${this.state.failures}, retrying in ${delay} ms): ${this.state.lastError}`,
          error instanceof Error ? error.stack : undefined,
        );
      }
      if (this.running && !this.woken) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, delay);
          this.wakeUp = () => {
            clearTimeout(timer);
            wokenUp = true;
            resolve();
          };
        });
        this.wakeUp = undefined;
      }
      // Only a wake-up is held back; the fallback poll keeps its own period.
      const coalesceMs = stepStarted + (this.options.minWakeIntervalMs ?? 0) - performance.now();
      if (this.running && wokenUp && !this.backingOff && coalesceMs > 0) {
        // Only stop() ends this wait early; further wake-ups are served by the step that follows.
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, coalesceMs);
          this.wakeUp = () => {
            if (!this.running) {
              clearTimeout(timer);
              resolve();
            }
          };
        });
        this.wakeUp = undefined;
      }
    }
  }
}
