#!/usr/bin/env node
import { Command } from 'commander';

import { CliError, EXIT_CODES } from './cli-error';
import { registerAdminKey } from './commands/admin-key.commands';
import { registerToken } from './commands/token.command';
import { registerBench } from './commands/bench.command';
import { registerKeys, registerKeystore } from './commands/keys.commands';
import { registerSetup } from './commands/setup.command';
import { registerTransactions } from './commands/transactions.commands';
import { registerVerifyChain, registerVerifyProof } from './commands/verify.commands';

/** `cbsg`: the command line of the CBSG ledger. Every command has --help. */
async function main(argv: string[]): Promise<void> {
  const program = new Command()
    .name('cbsg')
    .description('Operate a CBSG consortium-blockchain ledger for smart-grid data.')
    .showHelpAfterError()
    .exitOverride()
    .addHelpText(
      'after',
      `
Passphrases come from $CBSG_PASSPHRASE (or --passphrase-file / --passphrase-env), never from an
argument. Transactions go to $CBSG_NODE_URL (or --node), default http://127.0.0.1:3000.
Exit codes: 0 done, ${EXIT_CODES.failed} could not run, ${EXIT_CODES.invalid} verification failed, ${EXIT_CODES.refused} the node refused.`,
    );
  registerSetup(program);
  registerKeys(program);
  registerKeystore(program);
  registerTransactions(program);
  registerVerifyChain(program);
  registerVerifyProof(program);
  registerAdminKey(program);
  registerToken(program);
  registerBench(program);
  await program.parseAsync(argv);
}

main(process.argv).catch((error: unknown) => {
  const e = error as { code?: string; exitCode?: number; message?: string; path?: string };
  if (typeof e.code === 'string' && e.code.startsWith('commander.')) {
    // commander printed its own message (help, unknown option...).
    process.exit(e.exitCode ?? EXIT_CODES.failed);
  }
  if (error instanceof CliError) {
    process.stderr.write(`cbsg: ${error.message}\n`);
    process.exit(error.exitCode);
  }
  // A file named on the command line that is not there: say which, without a stack trace.
  const message = e.code === 'ENOENT' && e.path ? `no such file: ${e.path}` : (e.message ?? String(error));
  process.stderr.write(`cbsg: ${message}\n`);
  process.exit(EXIT_CODES.failed);
});
