import { access } from 'node:fs/promises';
import path from 'node:path';

import { type Command, Option } from 'commander';

import { CONSORTIUM_FILES, createConsortium, writeConsortium } from '@app/control-center';
import type { OrganisationRole } from '@app/ledger';

import { passphraseFrom } from '../passphrase';

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
  program
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
    .addOption(
      new Option('--passphrase-env <name>', 'environment variable holding the keystore passphrase').default(
        'CBSG_PASSPHRASE',
      ),
    )
    .option('--force', 'overwrite an existing setup in --out')
    .action(
      async (options: {
        out: string;
        chainId: string;
        delegates: number;
        nodes: number;
        producers?: number;
        slotMs: number;
        passphraseEnv: string;
        force?: boolean;
      }) => {
        const genesisPath = path.join(options.out, CONSORTIUM_FILES.genesis);
        if (!options.force && (await exists(genesisPath))) {
          throw new Error(
            `${genesisPath} exists already; use --force to replace the consortium (its keys are lost)`,
          );
        }
        if (!Number.isInteger(options.delegates) || options.delegates < 1) {
          throw new Error('--delegates must be a positive integer');
        }
        if (!Number.isInteger(options.nodes) || options.nodes < 1) {
          throw new Error('--nodes must be a positive integer');
        }
        const producers = options.producers ?? options.delegates;
        const passphrase = passphraseFrom(options.passphraseEnv);
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
        });
        await writeConsortium(consortium, options.out, passphrase);
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
