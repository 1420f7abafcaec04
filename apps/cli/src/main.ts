#!/usr/bin/env node
import { Command } from 'commander';

import { registerSetup } from './commands/setup.command';
import { registerVerifyChain, registerVerifyProof } from './commands/verify.commands';

/** `cbsg`: the command line of the CBSG ledger. Every command has --help. */
async function main(argv: string[]): Promise<void> {
  const program = new Command()
    .name('cbsg')
    .description('Operate a CBSG consortium-blockchain ledger for smart-grid data.')
    .showHelpAfterError()
    .exitOverride();
  registerSetup(program);
  registerVerifyChain(program);
  registerVerifyProof(program);
  await program.parseAsync(argv);
}

main(process.argv).catch((error: unknown) => {
  const e = error as { code?: string; exitCode?: number; message?: string };
  if (typeof e.code === 'string' && e.code.startsWith('commander.')) {
    // commander printed its own message (help, unknown option...).
    process.exit(e.exitCode ?? 1);
  }
  process.stderr.write(`cbsg: ${e.message ?? String(error)}\n`);
  process.exit(1);
});
