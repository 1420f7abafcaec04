import { type Command, InvalidArgumentError, Option } from 'commander';

import { IdentityTokenSource } from '@app/auth';
import {
  NodeClient,
  NodeRequestError,
  NodeUnreachableError,
  type SubmissionReceipt,
  type TransactionStatusView,
} from '@app/control-center';
import { initCrypto } from '@app/crypto';
import { Transaction } from '@app/ledger';
import { RECEIVER_ROLES, REGISTRY_BODIES, type RegistryTxKind } from '@app/registry';

import { CliError, EXIT_CODES } from '../cli-error';
import { checkPossession, type Holder, readIdentityFile } from '../identity-file';
import { openKeystoreAt } from '../keystores';
import { commaList, wholeNumber } from '../options';
import { addPassphraseOptions, type PassphraseOptions, readPassphrase } from '../passphrase';

/**
 * register, revoke, vote: each builds the body of one registry transaction from its options, checks it
 * against the same schema the nodes use (so a mistake names the option, not a JSON path), signs it with
 * the organisation's keystore and submits it to a node (POST /transactions).
 */

interface SigningOptions extends PassphraseOptions {
  keystore: string;
  node: string;
  wait?: boolean;
  timeout: number;
  json?: boolean;
}

interface SubjectKeyOptions {
  identity?: string;
  publicKey?: string;
  possession?: string;
}

/** Which option a body field comes from, for error messages: by full path, else by its first segment. */
type FieldNames = Record<string, string>;

const DEFAULT_NODE_URL = 'http://127.0.0.1:3000';
const POLL_MS = 250;

export function registerTransactions(program: Command): void {
  const register = program
    .command('register')
    .description(
      'Register a meter, a receiver or a delegate on the chain (a transaction signed by your organisation).',
    );
  registerMeterCommand(register);
  registerReceiverCommand(register);
  registerDelegateCommand(register);

  const revoke = program
    .command('revoke')
    .description('Revoke a meter, a receiver or a delegate (a transaction signed by your organisation).');
  for (const [subject, kind, idField] of [
    ['meter', 'meter.revoke', 'meterId'],
    ['receiver', 'receiver.revoke', 'receiverId'],
    ['delegate', 'delegate.revoke', 'delegateId'],
  ] as const) {
    addSigningOptions(
      revoke
        .command(subject)
        .description(
          `Revoke a ${subject}: from the block that makes it final, the chain no longer accepts it.`,
        )
        .argument('<id>', `the ${subject}'s identity`)
        .requiredOption('--reason <text>', 'why (recorded on the chain, 1 to 500 characters)'),
    ).action(async (id: string, options: SigningOptions & { reason: string }) => {
      await send(kind, { [idField]: id, reason: options.reason }, options, {
        [idField]: '<id>',
        reason: '--reason',
      });
    });
  }

  addSigningOptions(
    program
      .command('vote')
      .description(
        "Cast your organisation's ballot for delegates: its whole stake approves each delegate named. A ballot replaces the previous one.",
      )
      .argument('[delegates...]', 'the delegates to approve (at most 101)')
      .option('--clear', 'cast an empty ballot, withdrawing every approval'),
  ).action(async (delegates: string[], options: SigningOptions & { clear?: boolean }) => {
    if (options.clear && delegates.length > 0) {
      throw new CliError('give delegates to approve, or --clear, not both');
    }
    if (!options.clear && delegates.length === 0) {
      throw new CliError('name the delegates to approve, or --clear to withdraw every approval');
    }
    await send('vote', { approves: delegates }, options, { approves: '[delegates...]' });
  });
}

function registerMeterCommand(register: Command): void {
  addSigningOptions(
    addSubjectKeyOptions(
      register
        .command('meter')
        .description(
          "Register a meter: its public key and proof of possession, the dimensions it measures, which receiver gets which dimensions, its key epoch and its owner's notification endpoint. Every receiver named must be active.",
        )
        .argument('<meter-id>', "the meter's identity"),
      'meter',
    )
      .requiredOption(
        '--dimensions <names>',
        'the dimensions of every reading, in order, comma-separated (e.g. energy_kwh,voltage_v)',
        commaList,
      )
      .option(
        '--share <receiver=dimensions>',
        'a receiver and the dimensions it gets, e.g. operator-billing=energy_kwh,voltage_v (at least one; repeat for each receiver)',
        collectShare,
      )
      .option(
        '--epoch-reports <n>',
        "reports per key epoch (1: a fresh D for every report, the paper's mode)",
        wholeNumber(1),
        1,
      )
      .option(
        '--epoch-max-age-ms <ms>',
        'longest life of one key epoch in milliseconds (0: no limit by age)',
        wholeNumber(0),
        0,
      )
      .requiredOption('--owner-name <name>', "the meter owner's name")
      .requiredOption('--owner-notify-url <url>', "where the owner's notifications go (http or https)")
      .option('--location <text>', 'where the meter is'),
  ).action(async (meterId: string, options: SigningOptions & SubjectKeyOptions & MeterOptions) => {
    if (options.share === undefined) {
      throw new CliError('give at least one --share <receiver>=<dimensions>: who gets which dimensions');
    }
    await initCrypto();
    const key = await subjectKey('meter', meterId, options);
    const body = {
      meterId,
      ...key,
      dimensions: options.dimensions,
      policy: options.share,
      epoch: { maxReports: options.epochReports, maxAgeMs: options.epochMaxAgeMs },
      owner: { name: options.ownerName, notifyUrl: options.ownerNotifyUrl },
      ...(options.location === undefined ? {} : { location: options.location }),
    };
    await send('meter.register', body, options, {
      meterId: '<meter-id>',
      publicKey: '--public-key',
      possession: '--possession',
      dimensions: '--dimensions',
      policy: '--share',
      'epoch.maxReports': '--epoch-reports',
      'epoch.maxAgeMs': '--epoch-max-age-ms',
      'owner.name': '--owner-name',
      'owner.notifyUrl': '--owner-notify-url',
      location: '--location',
    });
  });
}

interface MeterOptions {
  dimensions: string[];
  share?: Array<{ receiver: string; dimensions: string[] }>;
  epochReports: number;
  epochMaxAgeMs: number;
  ownerName: string;
  ownerNotifyUrl: string;
  location?: string;
}

function registerReceiverCommand(register: Command): void {
  addSigningOptions(
    addSubjectKeyOptions(
      register
        .command('receiver')
        .description(
          "Register one of your organisation's receivers: its public key (meters encrypt to it) and proof of possession. It becomes active once it fetches its partial key from the control center.",
        )
        .argument('<receiver-id>', "the receiver's identity")
        .addOption(
          new Option('--role <role>', 'what the receiver does').choices(RECEIVER_ROLES).makeOptionMandatory(),
        ),
      'receiver',
    ),
  ).action(async (receiverId: string, options: SigningOptions & SubjectKeyOptions & { role: string }) => {
    await initCrypto();
    const key = await subjectKey('receiver', receiverId, options);
    await send('receiver.register', { receiverId, role: options.role, ...key }, options, {
      receiverId: '<receiver-id>',
      role: '--role',
      publicKey: '--public-key',
      possession: '--possession',
    });
  });
}

function registerDelegateCommand(register: Command): void {
  addSigningOptions(
    addSubjectKeyOptions(
      register
        .command('delegate')
        .description(
          'Register a delegate your organisation runs: its block-signing public key and proof of possession. It produces blocks once votes elect it.',
        )
        .argument('<delegate-id>', "the delegate's identity"),
      'delegate',
    ),
  ).action(async (delegateId: string, options: SigningOptions & SubjectKeyOptions) => {
    await initCrypto();
    const key = await subjectKey('delegate', delegateId, options);
    await send('delegate.register', { delegateId, ...key }, options, {
      delegateId: '<delegate-id>',
      publicKey: '--public-key',
      possession: '--possession',
    });
  });
}

function addSubjectKeyOptions(command: Command, holder: Holder): Command {
  return command
    .addOption(
      new Option(
        '--identity <file>',
        `the ${holder}'s public identity (cbsg keys generate ${holder} <id> --identity-out <file>)`,
      ).conflicts(['publicKey', 'possession']),
    )
    .option('--public-key <hex>', `the ${holder}'s public key (48 bytes, hex), instead of --identity`)
    .option('--possession <hex>', `its BLS proof of possession (96 bytes, hex), with --public-key`);
}

function addSigningOptions(command: Command): Command {
  return addPassphraseOptions(
    command
      .requiredOption(
        '--keystore <file>',
        "your organisation's keystore: its key signs, its id is the sender",
      )
      .addOption(
        new Option('--node <url>', 'the node that takes the transaction')
          .env('CBSG_NODE_URL')
          .default(DEFAULT_NODE_URL),
      )
      .option('--wait', 'wait until the transaction is in a final block, then print the block')
      .option('--timeout <seconds>', 'how long --wait waits', wholeNumber(1), 60)
      .option('--json', 'print the receipt as one JSON object'),
  );
}

/** The subject's public key and proof of possession, from its identity file or the two hex options. */
async function subjectKey(
  holder: Holder,
  id: string,
  options: SubjectKeyOptions,
): Promise<{ publicKey: string; possession: string }> {
  if (options.identity !== undefined) {
    const identity = await readIdentityFile(options.identity, holder);
    if (identity.id !== id) {
      throw new CliError(`${options.identity} is the identity of ${holder} ${identity.id}, not ${id}`);
    }
    return { publicKey: identity.publicKey, possession: identity.possession };
  }
  if (options.publicKey === undefined || options.possession === undefined) {
    throw new CliError(`give the ${holder}'s --identity <file>, or both --public-key and --possession`);
  }
  const key = { publicKey: options.publicKey.toLowerCase(), possession: options.possession.toLowerCase() };
  checkPossession(key.publicKey, key.possession, '--public-key/--possession');
  return key;
}

function collectShare(
  value: string,
  previous: Array<{ receiver: string; dimensions: string[] }> | undefined,
): Array<{ receiver: string; dimensions: string[] }> {
  const at = value.indexOf('=');
  if (at <= 0) {
    throw new InvalidArgumentError('must read <receiver>=<dimension>,<dimension>...');
  }
  return [
    ...(previous ?? []),
    { receiver: value.slice(0, at).trim(), dimensions: commaList(value.slice(at + 1)) },
  ];
}

/** Checks the body as the nodes will, naming the option behind each problem. */
function checkBody(kind: RegistryTxKind, body: object, fields: FieldNames): void {
  const parsed = REGISTRY_BODIES[kind].safeParse(body);
  if (parsed.success) {
    return;
  }
  const problems = parsed.error.issues.map((issue) => {
    const path = issue.path.map(String);
    const option = fields[path.join('.')] ?? fields[path[0] ?? ''] ?? (path.join('.') || 'body');
    return `${option}: ${issue.message}`;
  });
  throw new CliError(`${kind} not sent: ${problems.join('; ')}`);
}

function checkNodeUrl(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new CliError(`--node "${value}" is not a URL (e.g. ${DEFAULT_NODE_URL})`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new CliError(`--node "${value}" must be an http or https URL`);
  }
  return value;
}

async function send(
  kind: RegistryTxKind,
  body: object,
  options: SigningOptions,
  fields: FieldNames,
): Promise<void> {
  checkBody(kind, body, fields);
  const node = new NodeClient(checkNodeUrl(options.node));
  const passphrase = await readPassphrase(options);
  await initCrypto();
  const organisation = await openKeystoreAt(options.keystore, passphrase);
  if (organisation.kind !== 'bls') {
    throw new CliError(
      `${options.keystore} holds the ${organisation.kind} key of ${organisation.id}; transactions are signed with an organisation's key`,
    );
  }
  let chainId = '';
  const receipt = await asNodeAnswer(
    async () => {
      chainId = (await node.genesis()).chainId;
      const tx = Transaction.sign(
        { chainId, kind, sender: organisation.id, timestamp: Date.now(), body },
        organisation.key,
      );
      return node.submit(tx.toJSON());
    },
    { what: `the node refused ${kind}`, exitCode: EXIT_CODES.refused },
  );
  // Following it is a member's read: the organisation's token, from the key that signed it.
  const tokens = new IdentityTokenSource(organisation.key, chainId, {
    kind: 'organisation',
    id: organisation.id,
  });
  const member = new NodeClient(checkNodeUrl(options.node), () => tokens.authorization());
  const final = options.wait
    ? await asNodeAnswer(() => waitUntilFinal(member, receipt, options.timeout), {
        what: `${kind} ${receipt.hash} was accepted, but the node would not say where it is`,
        exitCode: EXIT_CODES.failed,
      })
    : undefined;
  if (options.json) {
    process.stdout.write(
      `${JSON.stringify({ ...receipt, sender: organisation.id, ...(final ? { status: final.status, height: final.height, blockHash: final.blockHash } : {}) })}\n`,
    );
    return;
  }
  process.stdout.write(
    [
      `${kind} accepted by ${options.node}: ${receipt.status}${receipt.duplicate ? ' (the node had it already)' : ''}`,
      `  transaction  ${receipt.hash}`,
      `  sender       ${organisation.id}`,
      ...(final ? [`  final        block ${final.height} (${final.blockHash})`] : []),
      '',
    ].join('\n'),
  );
}

/**
 * Runs a call to the node; its refusals and silences become one clear line. Only a refusal of the
 * transaction itself exits 3: once it is accepted, a failure to follow it is a failure to run.
 */
async function asNodeAnswer<T>(
  call: () => Promise<T>,
  refusal: { what: string; exitCode: number },
): Promise<T> {
  try {
    return await call();
  } catch (error) {
    if (error instanceof NodeRequestError) {
      throw new CliError(
        `${refusal.what}: ${error.message} (${error.code}, HTTP ${error.status})`,
        refusal.exitCode,
      );
    }
    if (error instanceof NodeUnreachableError) {
      throw new CliError(error.message);
    }
    throw error;
  }
}

/** Polls the node until the transaction is in a final block (a few slots), or the timeout. */
async function waitUntilFinal(
  node: NodeClient,
  receipt: SubmissionReceipt,
  timeoutSeconds: number,
): Promise<TransactionStatusView> {
  const deadline = Date.now() + timeoutSeconds * 1000;
  for (;;) {
    const status = await node.transactionStatus(receipt.hash);
    if (status.status === 'final') {
      return status;
    }
    if (Date.now() > deadline) {
      throw new CliError(
        `${receipt.kind} ${receipt.hash} is still ${status.status} after ${timeoutSeconds} s (ask again: GET /transactions/${receipt.hash})`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}
