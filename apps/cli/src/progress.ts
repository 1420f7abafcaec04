import { SingleBar } from 'cli-progress';

/** A progress bar for long work; its detail is a short free text after the counts. */
export interface Progress {
  update(value: number, detail?: string): void;
  stop(): void;
}

const SILENT: Progress = { update: () => undefined, stop: () => undefined };

/**
 * A bar on stderr, and only when stderr is a terminal: standard output stays the command's result,
 * and scripts, pipes and tests see no control characters.
 */
export function progressBar(label: string, total: number): Progress {
  if (!process.stderr.isTTY) {
    return SILENT;
  }
  const bar = new SingleBar({
    stream: process.stderr,
    format: `${label} [{bar}] {percentage}% {value}/{total} {detail}`,
    barCompleteChar: '#',
    barIncompleteChar: '-',
    hideCursor: true,
    etaBuffer: 20,
  });
  bar.start(total, 0, { detail: '' });
  return {
    update: (value, detail = '') => bar.update(value, { detail }),
    stop: () => bar.stop(),
  };
}
