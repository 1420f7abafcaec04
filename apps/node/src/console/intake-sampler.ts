import { Injectable, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';

import { ReportIntakeService } from '@app/intake';

import type { IntakeSample } from './console.types';

/** Five minutes of one-second samples: enough for the console's chart, a few kilobytes. */
const KEPT_SAMPLES = 300;

/**
 * Counts the reports this node accepts, second by second, so that the console can show the intake
 * rate and its recent history as soon as it opens (a rate computed in the browser would start empty).
 */
@Injectable()
export class IntakeSampler implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly samples: IntakeSample[] = [];
  private acceptedThisSecond = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly intake: ReportIntakeService) {}

  onApplicationBootstrap(): void {
    this.intake.onAccepted((reports) => {
      this.acceptedThisSecond += reports.length;
    });
    this.timer = setInterval(() => this.sample(), 1_000);
    // Sampling must never keep a stopping process alive.
    this.timer.unref();
  }

  onApplicationShutdown(): void {
    clearInterval(this.timer);
  }

  /** Oldest first. */
  history(): IntakeSample[] {
    return [...this.samples];
  }

  /** Reports per second over the last `seconds` samples. */
  ratePerSecond(seconds = 10): number {
    const recent = this.samples.slice(-seconds);
    return recent.length === 0 ? 0 : recent.reduce((sum, s) => sum + s.accepted, 0) / recent.length;
  }

  private sample(): void {
    this.samples.push({
      at: Date.now(),
      accepted: this.acceptedThisSecond,
      mempool: this.intake.load().mempool,
    });
    this.acceptedThisSecond = 0;
    if (this.samples.length > KEPT_SAMPLES) {
      this.samples.splice(0, this.samples.length - KEPT_SAMPLES);
    }
  }
}
