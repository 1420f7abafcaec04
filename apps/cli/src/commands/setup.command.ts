import { access } from 'node:fs/promises';
import path from 'node:path';

import type { Command } from 'commander';

import { CONSORTIUM_FILES, createConsortium, writeConsortium } from '@app/control-center';
import type { OrganisationRole } from '@app/ledger';

import { CliError } from '../cli-error';
import { addPassphraseOptions, type PassphraseOptions, readPassphrase } from '../passphrase';
import { type Progress, progressBar } from '../progress';

/** The development consortium's members: a control center, a grid operator, an equipment supplier. */
export const DEV_ORGANISATIONS = [
  {
    id: 'control-center',
    name: 'Control center',
    roles: ['control-center', 'meter-registrar', 'receiver', 'delegate-operator'] as OrganisationRole[],
    stake: 100,
  },
  {
    id: 'grid-operator',
    name: 'Grid operator',
    roles: ['grid-operator', 'meter-registrar', 'receiver', 'delegate-operator'] as OrganisationRole[],
    stake: 60,
  },
  {
    id: 'equipment-supplier',
    name: 'Equipment supplier',
    roles: ['equipment-supplier', 'receiver', 'delegate-operator'] as OrganisationRole[],
    stake: 30,
  },
];

/** Node ids node-1..node-n, run by the organisations in turn. */
export function devNodes(count: number): Array<{ id: string; organisation: string }> {
  return Array.from({ length: count }, (_, i) => ({
    id: `node-${i + 1}`,
    organisation: DEV_ORGANISATIONS[i % DEV_ORGANISATIONS.length]!.id,
  }));
}

export function registerSetup(program: Command): void {
  const setup = program
    .command('setup')
    .description(
      'Initialise a consortium: the control center draws its master key (sealed in a keystore), the public parameters go into the genesis document, and (for development) keys are made for the member organisations and delegates.',
    )
    .requiredOption('--out <dir>', 'directory for genesis.json and keys/')
    .option('--chain-id <id>', 'name of the chain', 'cbsg-devnet')
    .option(
      '--delegates <n>',
      'number of delegates, spread over the organisations',
      (v) => Number.parseInt(v, 10),
      21,
    )
    .option(
      '--nodes <n>',
      'number of accounting nodes, spread over the organisations',
      (v) => Number.parseInt(v, 10),
      3,
    )
    .option('--producers <n>', 'producers per round (at most the number of delegates)', (v) =>
      Number.parseInt(v, 10),
    )
    .option('--slot-ms <ms>', 'slot length in milliseconds', (v) => Number.parseInt(v, 10), 2_000)
    .option(
      '--max-block-transactions <n>',
      'entries a block may hold (every node checks it; default 10000)',
      (v) => Number.parseInt(v, 10),
    )
    .option(
      '--entry-window-ms <ms>',
      "how much older than its block an entry may be (every node checks it; default 7 days; a node's own intake window ACCEPT_WINDOW_MS is stricter)",
      (v) => Number.parseInt(v, 10),
    )
    .option(
      '--future-skew-ms <ms>',
      'how much later than its block an entry may be stamped (default 1 hour)',
      (v) => Number.parseInt(v, 10),
    )
    .option('--force', 'overwrite an existing setup in --out');
  addPassphraseOptions(setup).action(
    async (
      options: PassphraseOptions & {
        out: string;
        chainId: string;
        delegates: number;
        nodes: number;
        producers?: number;
        slotMs: number;
        maxBlockTransactions?: number;
        entryWindowMs?: number;
        futureSkewMs?: number;
        force?: boolean;
      },
    ) => {
      const genesisPath = path.join(options.out, CONSORTIUM_FILES.genesis);
      // The master key too: genesis.json is handed to the members and may have been moved away, but
      // a master key overwritten is lost with every partial key issued under it.
      for (const file of [genesisPath, path.join(options.out, CONSORTIUM_FILES.masterKey)]) {
        if (!options.force && (await exists(file))) {
          throw new CliError(
            `${file} exists already; use --force to replace the consortium (its keys are lost)`,
          );
        }
      }
      if (!Number.isInteger(options.delegates) || options.delegates < 1) {
        throw new CliError('--delegates must be a positive integer');
      }
      if (!Number.isInteger(options.nodes) || options.nodes < 1) {
        throw new CliError('--nodes must be a positive integer');
      }
      const producers = options.producers ?? options.delegates;
      const passphrase = await readPassphrase(options);
      const consortium = await createConsortium({
        chainId: options.chainId,
        organisations: DEV_ORGANISATIONS,
        delegates: Array.from({ length: options.delegates }, (_, i) => ({
          id: `delegate-${String(i + 1).padStart(3, '0')}`,
          organisation: DEV_ORGANISATIONS[i % DEV_ORGANISATIONS.length]!.id,
        })),
        nodes: devNodes(options.nodes),
        producers,
        slotMs: options.slotMs,
        blockRules: {
          maxBlockTransactions: options.maxBlockTransactions,
          entryWindowMs: options.entryWindowMs,
          futureSkewMs: options.futureSkewMs,
        },
      });
      // Each keystore costs a deliberate scrypt run (a few hundred ms): the long part of setup.
      let progress: Progress | undefined;
      try {
        await writeConsortium(consortium, options.out, passphrase, {
          onKeystoreWritten: (written, total) => {
            progress ??= progressBar('sealing keystores', total);
            progress.update(written);
          },
        });
      } finally {
        progress?.stop();
      }
      process.stdout.write(
        [
          `chain ${consortium.genesis.chainId}, genesis ${consortium.genesisHash}`,
          `  ${genesisPath}`,
          `  ${path.join(options.out, CONSORTIUM_FILES.masterKey)} (the control center's master key, sealed)`,
          `  ${consortium.organisationKeys.size} organisation and ${consortium.delegateKeys.size} delegate keystores in ${path.join(options.out, 'keys')}`,
          '',
        ].join('\n'),
      );
    },
  );
}

async function exists(file: string): Promise<boolean> {
  try {
    await access(file);
    return true;
  } catch {
    return false;
  }
}
