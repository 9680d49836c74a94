/** The name of the user timing measure of each frame's work. */
export const FRAME_MEASURE = 'livetail:frame';

/**
 * Coalesces every request for a repaint into one callback per animation frame. Hidden tabs get no
 * animation frames, so a timer makes sure the work still runs (at most once a second) and queued
 * logs never pile up unapplied.
 */
export class FrameLoop {
  private frame: number | undefined;
  private timer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly run: () => void,
    private readonly hiddenDelayMs = 1000,
  ) {}

  request(): void {
    if (this.frame !== undefined) return;
    this.frame = requestAnimationFrame(() => this.fire());
    this.timer = setTimeout(() => this.fire(), this.hiddenDelayMs);
  }

  dispose(): void {
    if (this.frame !== undefined) cancelAnimationFrame(this.frame);
    clearTimeout(this.timer);
    this.frame = undefined;
  }

  private fire(): void {
    if (this.frame === undefined) return;
    cancelAnimationFrame(this.frame);
    clearTimeout(this.timer);
    this.frame = undefined;
    const start = performance.now();
    this.run();
    // A user timing per frame: DevTools shows it, a PerformanceObserver (the browser tests) reads it,
    // and clearing it at once keeps a long-running tab's timeline buffer from growing.
    performance.measure(FRAME_MEASURE, { start });
    performance.clearMeasures(FRAME_MEASURE);
  }
}
