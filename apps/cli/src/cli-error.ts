/**
 * Exit codes, so scripts can tell a refusal from a mistake: 1 the command could not run (bad input,
 * missing file, wrong passphrase), 2 what was checked does not hold (verify-chain, verify-proof),
 * 3 the node refused the transaction.
 */
export const EXIT_CODES = { failed: 1, invalid: 2, refused: 3 } as const;

/** An error the command line prints as one line, with the exit code it stands for. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = EXIT_CODES.failed,
  ) {
    super(message);
    this.name = 'CliError';
  }
}
