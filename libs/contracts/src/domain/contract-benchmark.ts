import type { CompiledContract } from './contract-compiler';

export interface ContractBenchmarkOptions {
  contract: CompiledContract;
  /** Inputs to cycle through, one per evaluation in turn (subject i gets inputs[i % length]). */
  inputs: ReadonlyArray<Readonly<Record<string, unknown>>>;
  evaluations: number;
  /** A monotonic clock in ms (performance.now): the domain reads no clock of its own. */
  now: () => number;
  /** The meter evaluated at step i; default "meter-<i % 100000>". */
  subjectOf?: (i: number) => string;
}

export interface ContractBenchmarkResult {
  evaluations: number;
  elapsedMs: number;
  evaluationsPerSecond: number;
  /** The last result's hash, so that the work cannot be optimised away and runs can be compared. */
  lastResultHash: string;
}

/**
 * Evaluates one compiled contract many times, each evaluation complete (input check, every rule,
 * canonical JSON, result hash), and reports the rate: the figure issue 6 asks for (5,000 meter
 * evaluations/s). Compiling is outside the timed loop, as it is in a worker that keeps its contracts.
 */
export function benchmarkContractEvaluations(options: ContractBenchmarkOptions): ContractBenchmarkResult {
  const { contract, inputs, evaluations, now } = options;
  if (inputs.length === 0 || !Number.isInteger(evaluations) || evaluations < 1) {
    throw new RangeError('the benchmark needs at least one input and a whole number of evaluations');
  }
  const subjectOf = options.subjectOf ?? ((i: number) => `meter-${i % 100_000}`);
  let lastResultHash = '';
  const started = now();
  for (let i = 0; i < evaluations; i++) {
    const input = inputs[i % inputs.length] as Readonly<Record<string, unknown>>;
    lastResultHash = contract.evaluate(subjectOf(i), input, `bench:${i}`).resultHash;
  }
  const elapsedMs = now() - started;
  return {
    evaluations,
    elapsedMs,
    evaluationsPerSecond: elapsedMs > 0 ? (evaluations * 1000) / elapsedMs : Number.POSITIVE_INFINITY,
    lastResultHash,
  };
}
