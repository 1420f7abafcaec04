import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, copyFile, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

import { CONSORTIUM_FILES } from '@app/control-center';
import { readKeystoreFile, toHex } from '@app/crypto';
import { repoRoot } from '@app/persistence';

import { ConsortiumHarness, ORGANISATIONS, TEST_PASSPHRASE } from '../../../test/support/consortium-harness';

const run = promisify(execFile);
const MAIN = path.join(repoRoot(), 'apps/cli/src/main.ts');

interface Outcome {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * The cbsg command line as an operator runs it: a separate node process, its own environment (the
 * passphrase in $CBSG_PASSPHRASE unless a test says otherwise), stdout and stderr as pipes.
 */
async function cbsg(args: string[], env: Record<string, string | undefined> = {}): Promise<Outcome> {
  try {
    const { stdout, stderr } = await run(process.execPath, ['-r', '@swc-node/register', MAIN, ...args], {
      cwd: repoRoot(),
      timeout: 90_000,
      env: { ...process.env, CBSG_NODE_URL: undefined, CBSG_PASSPHRASE: TEST_PASSPHRASE, ...env },
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

/** `script` gives the command a terminal (stdout and stderr both go to it); every other run here has pipes. */
const TERMINAL = '/usr/bin/script';

async function cbsgOnTerminal(args: string[]): Promise<string> {
  const command = [process.execPath, '-r', '@swc-node/register', MAIN, ...args].join(' ');
  const { stdout } = await run(TERMINAL, ['-qec', command, '/dev/null'], {
    cwd: repoRoot(),
    timeout: 90_000,
    env: { ...process.env, CBSG_PASSPHRASE: TEST_PASSPHRASE },
  });
  return stdout;
}

describe('cbsg, the command line, through its binary', () => {
  let harness: ConsortiumHarness;
  let work: string;
  /** The receiver every meter registered here shares its readings with (active, so meters may name it). */
  const billing = 'cli-billing';

  const file = (name: string) => path.join(work, name);
  const organisationKeystore = (id: string) => path.join(harness.dir, CONSORTIUM_FILES.organisationKey(id));
  const signing = (organisation: string) => [
    '--keystore',
    organisationKeystore(organisation),
    '--node',
    harness.nodeUrl,
  ];

  beforeAll(async () => {
    work = await mkdtemp(path.join(tmpdir(), 'cbsg-cli-e2e-'));
    harness = await ConsortiumHarness.start();
    await harness.registerReceiver(ORGANISATIONS.gridOperator, billing, 'grid-operator');
  });

  afterAll(async () => {
    await harness?.stop();
    await rm(work, { recursive: true, force: true });
  });

  it('given --help on every command should print its usage and exit 0', async () => {
    for (const command of [
      [],
      ['setup'],
      ['keys', 'generate'],
      ['keystore', 'inspect'],
      ['keystore', 'change-passphrase'],
      ['register', 'meter'],
      ['register', 'receiver'],
      ['register', 'delegate'],
      ['revoke', 'meter'],
      ['vote'],
      ['verify-chain'],
      ['verify-proof'],
      ['admin-key', 'create'],
      ['admin-key', 'list'],
      ['admin-key', 'revoke'],
      ['token'],
      ['bench'],
    ]) {
      const outcome = await cbsg([...command, '--help']);
      expect({ command, code: outcome.code }).toEqual({ command, code: 0 });
      expect(outcome.stdout).toContain(`Usage: cbsg ${command.join(' ')}`.trim());
    }
    const bench = await cbsg(['bench', '--help']);
    expect(bench.stdout).toMatch(/crypto\s+\[--duration SECONDS\]/);
  });

  it('given setup should write the genesis and 0600 keystores with a clean stderr; again without --force it should refuse', async () => {
    const out = file('consortium');
    const made = await cbsg(['setup', '--out', out, '--delegates', '2', '--nodes', '1']);
    expect(made).toMatchObject({ code: 0, stderr: '' });
    expect(made.stdout).toMatch(/^chain cbsg-devnet, genesis [0-9a-f]{64}/);
    expect((await stat(path.join(out, CONSORTIUM_FILES.masterKey))).mode & 0o777).toBe(0o600);
    expect((await stat(path.join(out, CONSORTIUM_FILES.delegateKey('delegate-002')))).mode & 0o777).toBe(
      0o600,
    );

    const again = await cbsg(['setup', '--out', out]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('exists already; use --force');

    const noPassphrase = await cbsg(['setup', '--out', file('other')], { CBSG_PASSPHRASE: undefined });
    expect(noPassphrase.code).toBe(1);
    expect(noPassphrase.stderr).toContain('set the keystore passphrase in $CBSG_PASSPHRASE');
  });

  // Without a terminal (every other test) no bar is drawn.
  const withTerminal = existsSync(TERMINAL) ? it : it.skip;
  withTerminal(
    'given a terminal, setup should draw a progress bar while it seals the keystores',
    async () => {
      const shown = await cbsgOnTerminal(['setup', '--out', file('tty'), '--delegates', '1', '--nodes', '1']);
      expect(shown).toMatch(/sealing keystores \[#+\] 100% 6\/6/);
      expect(shown).toContain('chain cbsg-devnet');
    },
  );

  it('given keys generate should seal a new key (0600) and print only its public parts; without a passphrase it should refuse', async () => {
    const out = file('meter-a.keystore.json');
    const made = await cbsg([
      'keys',
      'generate',
      'meter',
      'meter-a',
      '--out',
      out,
      '--identity-out',
      file('meter-a.identity.json'),
    ]);
    expect(made).toMatchObject({ code: 0, stderr: '' });
    expect((await stat(out)).mode & 0o777).toBe(0o600);
    const entry = await readKeystoreFile(out, TEST_PASSPHRASE);
    expect(entry).toMatchObject({ kind: 'meter', id: 'meter-a' });
    expect(made.stdout).toContain(`public key   ${toHex(entry.publicKey)}`);
    expect(made.stdout).not.toContain(toHex(entry.key.exposeBytes()));
    const identity = JSON.parse(await readFile(file('meter-a.identity.json'), 'utf8'));
    expect(identity).toMatchObject({ format: 'cbsg-identity', holder: 'meter', id: 'meter-a' });

    const overwrite = await cbsg(['keys', 'generate', 'meter', 'meter-a', '--out', out]);
    expect(overwrite.code).toBe(1);
    expect(overwrite.stderr).toContain('exists already; use --force');

    const noPassphrase = await cbsg(['keys', 'generate', 'meter', 'meter-b', '--out', file('meter-b.json')], {
      CBSG_PASSPHRASE: undefined,
    });
    expect(noPassphrase.code).toBe(1);
    expect(noPassphrase.stderr).toContain('set the keystore passphrase in $CBSG_PASSPHRASE');
    expect(existsSync(file('meter-b.json'))).toBe(false);
  });

  it('given a passphrase file should use it, and refuse it when group or others can read it', async () => {
    const passphraseFile = file('passphrase.txt');
    await writeFile(passphraseFile, 'a passphrase from a file\n', { mode: 0o600 });
    const fromFile = await cbsg(
      [
        'keys',
        'generate',
        'organisation',
        'new-member',
        '--out',
        file('member.keystore.json'),
        '--passphrase-file',
        passphraseFile,
      ],
      { CBSG_PASSPHRASE: undefined },
    );
    expect(fromFile.code).toBe(0);
    expect((await readKeystoreFile(file('member.keystore.json'), 'a passphrase from a file')).kind).toBe(
      'bls',
    );

    await chmod(passphraseFile, 0o644);
    const exposed = await cbsg([
      'keys',
      'generate',
      'organisation',
      'other-member',
      '--out',
      file('other.keystore.json'),
      '--passphrase-file',
      passphraseFile,
    ]);
    expect(exposed.code).toBe(1);
    expect(exposed.stderr).toContain('mode 0644 lets group or others read it; chmod 600 first');
  });

  it('given keystore inspect should show kind, id, public key and fingerprint without a passphrase; a 0644 key file should be refused', async () => {
    const keystore = file('inspected.keystore.json');
    await cbsg(['keys', 'generate', 'receiver', 'inspected', '--out', keystore]);
    const entry = await readKeystoreFile(keystore, TEST_PASSPHRASE);
    const shown = await cbsg(['keystore', 'inspect', keystore, '--json'], { CBSG_PASSPHRASE: undefined });
    expect(shown.code).toBe(0);
    expect(JSON.parse(shown.stdout)).toEqual({
      file: keystore,
      mode: '0600',
      kind: 'receiver',
      id: 'inspected',
      publicKey: toHex(entry.publicKey),
      fingerprint: expect.stringMatching(/^[0-9a-f]{16}$/),
      scrypt: { N: 2 ** 17, r: 8, p: 1 },
    });
    const text = await cbsg(['keystore', 'inspect', keystore]);
    expect(text.stdout).toContain('kind         receiver');
    expect(text.stdout).not.toContain(toHex(entry.key.exposeBytes()));

    const exposed = file('exposed.keystore.json');
    await copyFile(keystore, exposed);
    await chmod(exposed, 0o644);
    const refused = await cbsg(['keystore', 'inspect', exposed]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(
      `keystore ${exposed}: mode 0644 lets group or others read it; chmod 600 first`,
    );
  });

  it('given keystore change-passphrase should reseal the key under the new one; with a wrong current passphrase it should refuse', async () => {
    const keystore = file('rekeyed.keystore.json');
    await cbsg(['keys', 'generate', 'delegate', 'rekeyed', '--out', keystore]);
    const before = await readKeystoreFile(keystore, TEST_PASSPHRASE);

    const wrong = await cbsg(['keystore', 'change-passphrase', keystore], {
      CBSG_PASSPHRASE: 'not the passphrase',
      CBSG_NEW_PASSPHRASE: 'the next passphrase',
    });
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toContain(`${keystore}: wrong passphrase`);

    const changed = await cbsg(['keystore', 'change-passphrase', keystore], {
      CBSG_NEW_PASSPHRASE: 'the next passphrase',
    });
    expect(changed).toMatchObject({ code: 0, stdout: `${keystore}: passphrase changed (bls rekeyed)\n` });
    const after = await readKeystoreFile(keystore, 'the next passphrase');
    expect(after.key.exposeBytes()).toEqual(before.key.exposeBytes());
    expect((await stat(keystore)).mode & 0o777).toBe(0o600);
  });

  it('given register receiver should put the receiver on the chain; registering it twice should print the node refusal and exit 3', async () => {
    await cbsg([
      'keys',
      'generate',
      'receiver',
      'cli-maintenance',
      '--out',
      file('cli-maintenance.keystore.json'),
      '--identity-out',
      file('cli-maintenance.identity.json'),
    ]);
    const args = [
      'register',
      'receiver',
      'cli-maintenance',
      '--role',
      'equipment-supplier',
      '--identity',
      file('cli-maintenance.identity.json'),
      ...signing(ORGANISATIONS.equipmentSupplier),
    ];
    const registered = await cbsg([...args, '--wait', '--json']);
    expect(registered).toMatchObject({ code: 0, stderr: '' });
    expect(JSON.parse(registered.stdout)).toMatchObject({
      kind: 'receiver.register',
      status: 'final',
      sender: ORGANISATIONS.equipmentSupplier,
      height: expect.stringMatching(/^\d+$/),
    });
    expect((await harness.get('/receivers/cli-maintenance')).body).toMatchObject({
      status: 'registered',
      organisation: ORGANISATIONS.equipmentSupplier,
    });

    const twice = await cbsg(args);
    expect(twice.code).toBe(3);
    expect(twice.stderr).toContain(
      'the node refused receiver.register: receiver cli-maintenance is already registered (REGISTRY.ALREADY_REGISTERED, HTTP 409)',
    );
  });

  it('given register meter should register it with its sharing policy; a missing or malformed option should be named before anything is sent', async () => {
    await cbsg([
      'keys',
      'generate',
      'meter',
      'cli-meter-1',
      '--out',
      file('cli-meter-1.keystore.json'),
      '--identity-out',
      file('cli-meter-1.identity.json'),
    ]);
    const args = [
      'register',
      'meter',
      'cli-meter-1',
      '--identity',
      file('cli-meter-1.identity.json'),
      '--dimensions',
      'energy_kwh,voltage_v',
      '--share',
      `${billing}=energy_kwh`,
      '--owner-name',
      'Ada Owner',
      '--owner-notify-url',
      'http://127.0.0.1:9/notify',
      ...signing(ORGANISATIONS.gridOperator),
    ];
    const registered = await cbsg([...args, '--wait']);
    expect(registered).toMatchObject({ code: 0, stderr: '' });
    expect(registered.stdout).toMatch(
      /^meter\.register accepted by .*: pending\n {2}transaction {2}[0-9a-f]{64}\n/,
    );
    expect(registered.stdout).toMatch(/final {8}block \d+ \([0-9a-f]{64}\)/);
    expect((await harness.get('/meters/cli-meter-1')).body).toMatchObject({
      status: 'registered',
      registrar: ORGANISATIONS.gridOperator,
      dimensions: ['energy_kwh', 'voltage_v'],
      policy: [{ receiver: billing, dimensions: ['energy_kwh'] }],
    });

    const missing = await cbsg(args.filter((a, i) => a !== '--owner-name' && args[i - 1] !== '--owner-name'));
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain("required option '--owner-name <name>' not specified");

    const malformed = await cbsg(args.map((a) => (a === 'energy_kwh,voltage_v' ? 'Energy kWh' : a)));
    expect(malformed.code).toBe(1);
    expect(malformed.stderr).toContain('meter.register not sent: --dimensions');

    const otherIdentity = await cbsg(args.map((a) => (a === 'cli-meter-1' ? 'cli-meter-2' : a)));
    expect(otherIdentity.code).toBe(1);
    expect(otherIdentity.stderr).toContain('is the identity of meter cli-meter-1, not cli-meter-2');
  });

  it('given revoke meter should revoke it; an unknown meter or a wrong passphrase should be refused clearly', async () => {
    const revoked = await cbsg([
      'revoke',
      'meter',
      'cli-meter-1',
      '--reason',
      'replaced by a newer model',
      ...signing(ORGANISATIONS.gridOperator),
      '--wait',
    ]);
    expect(revoked).toMatchObject({ code: 0, stderr: '' });
    expect((await harness.get('/meters/cli-meter-1')).body).toMatchObject({
      status: 'revoked',
      revokedReason: 'replaced by a newer model',
    });

    const unknown = await cbsg([
      'revoke',
      'meter',
      'no-such-meter',
      '--reason',
      'gone',
      ...signing(ORGANISATIONS.gridOperator),
    ]);
    expect(unknown.code).toBe(3);
    expect(unknown.stderr).toContain(
      'the node refused meter.revoke: no meter no-such-meter (REGISTRY.UNKNOWN, HTTP 404)',
    );

    const wrongPassphrase = await cbsg(
      ['revoke', 'receiver', 'cli-maintenance', '--reason', 'x', ...signing(ORGANISATIONS.equipmentSupplier)],
      { CBSG_PASSPHRASE: 'not the passphrase' },
    );
    expect(wrongPassphrase.code).toBe(1);
    expect(wrongPassphrase.stderr).toContain('wrong passphrase');
  });

  it('given register delegate, vote and revoke should be accepted; a ballot for an unknown delegate should be refused', async () => {
    // Sorted after delegate-1..3 and without votes, it is never elected: the harness's chain keeps its producers.
    await cbsg([
      'keys',
      'generate',
      'delegate',
      'standby-delegate',
      '--out',
      file('standby.keystore.json'),
      '--identity-out',
      file('standby.identity.json'),
    ]);
    const registered = await cbsg([
      'register',
      'delegate',
      'standby-delegate',
      '--identity',
      file('standby.identity.json'),
      ...signing(ORGANISATIONS.gridOperator),
      '--wait',
    ]);
    expect(registered).toMatchObject({ code: 0, stderr: '' });

    const ballot = await cbsg([
      'vote',
      'delegate-1',
      'delegate-2',
      'delegate-3',
      ...signing(ORGANISATIONS.gridOperator),
      '--json',
    ]);
    expect(ballot.code).toBe(0);
    expect(JSON.parse(ballot.stdout)).toMatchObject({ kind: 'vote', status: 'pending' });

    const unknown = await cbsg(['vote', 'no-such-delegate', ...signing(ORGANISATIONS.gridOperator)]);
    expect(unknown.code).toBe(3);
    expect(unknown.stderr).toContain('no delegate no-such-delegate (REGISTRY.UNKNOWN, HTTP 404)');

    const empty = await cbsg(['vote', ...signing(ORGANISATIONS.gridOperator)]);
    expect(empty.code).toBe(1);
    expect(empty.stderr).toContain('name the delegates to approve, or --clear');

    const revoked = await cbsg([
      'revoke',
      'delegate',
      'standby-delegate',
      '--reason',
      'no longer run',
      ...signing(ORGANISATIONS.gridOperator),
      '--wait',
    ]);
    expect(revoked).toMatchObject({ code: 0, stderr: '' });
  });

  it('given verify-chain on the node database should find it valid with a clean stderr; without --genesis it should say so', async () => {
    const genesis = path.join(harness.dir, CONSORTIUM_FILES.genesis);
    const valid = await cbsg([
      'verify-chain',
      '--database-url',
      harness.db.url,
      '--genesis',
      genesis,
      '--workers',
      '1',
    ]);
    expect(valid).toMatchObject({
      code: 0,
      stderr: '',
      stdout: expect.stringMatching(/^chain valid: \d+ blocks/),
    });

    if (existsSync(TERMINAL)) {
      // On a terminal, the same run draws its progress over the blocks.
      const shown = await cbsgOnTerminal([
        'verify-chain',
        '--database-url',
        harness.db.url,
        '--genesis',
        genesis,
        '--workers',
        '1',
      ]);
      expect(shown).toMatch(/verifying blocks \[#+\] 100% (\d+)\/\1 \d+ reports/);
    }

    const missing = await cbsg(['verify-chain', '--database-url', harness.db.url]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain("required option '--genesis <file>' not specified");
  });

  it('given admin-key create, the key works on the node; listed without its secret, revoked it is refused; a bad id is refused', async () => {
    const made = await cbsg([
      'admin-key',
      'create',
      '--name',
      'night shift',
      '--database-url',
      harness.db.url,
    ]);
    expect(made).toMatchObject({
      code: 0,
      stdout: expect.stringMatching(/^cbsg_admin_[0-9a-f]{12}_[A-Za-z0-9_-]{43}\n$/),
    });
    const key = made.stdout.trim();
    const id = key.slice('cbsg_admin_'.length, 'cbsg_admin_'.length + 12);
    const verify = () => harness.post('/chain/verify', {}, `Bearer ${key}`);
    expect((await verify()).status).toBe(200);

    const listed = await cbsg(['admin-key', 'list', '--json', '--database-url', harness.db.url]);
    expect(listed.code).toBe(0);
    expect(listed.stdout).not.toContain(key.slice(-43));
    expect(JSON.parse(listed.stdout)).toEqual(
      expect.arrayContaining([expect.objectContaining({ id, name: 'night shift', revokedAt: null })]),
    );

    expect(await cbsg(['admin-key', 'revoke', id, '--database-url', harness.db.url])).toMatchObject({
      code: 0,
    });
    // The node trusts a key it has looked up for a few seconds; then the revocation holds.
    await new Promise((resolve) => setTimeout(resolve, 5_500));
    expect(await verify()).toMatchObject({ status: 401, body: { code: 'AUTH.BAD_ADMIN_KEY' } });

    const again = await cbsg(['admin-key', 'revoke', id, '--database-url', harness.db.url]);
    expect(again).toMatchObject({ code: 1, stderr: expect.stringContaining(`no active admin key ${id}`) });
    const bad = await cbsg(['admin-key', 'revoke', 'nope', '--database-url', harness.db.url]);
    expect(bad).toMatchObject({ code: 1, stderr: expect.stringContaining('is not an admin key id') });
  });

  it("given token should print an organisation token the node takes; a delegate's keystore or a bad lifetime should be refused", async () => {
    const made = await cbsg([
      'token',
      '--keystore',
      organisationKeystore(ORGANISATIONS.gridOperator),
      '--node',
      harness.nodeUrl,
    ]);
    expect(made).toMatchObject({ code: 0, stdout: expect.stringMatching(/^cbsg1\.[\w-]+\.[\w-]+\n$/) });
    const blocks = await fetch(`${harness.nodeUrl}/blocks?limit=1`, {
      headers: { authorization: `Bearer ${made.stdout.trim()}` },
    });
    expect(blocks.status).toBe(200);
    const tooLong = await cbsg([
      'token',
      '--keystore',
      organisationKeystore(ORGANISATIONS.gridOperator),
      '--node',
      harness.nodeUrl,
      '--minutes',
      '600',
    ]);
    expect(tooLong).toMatchObject({
      code: 1,
      stderr: expect.stringContaining('--minutes must be a whole number from 1 to 60'),
    });
  });

  it('given verify-proof on a final registration should find it valid; a file that is not a proof should be refused', async () => {
    const status = (await harness.get('/receivers/cli-maintenance')).body as { registeredTx: string };
    const proof = await harness.get(`/tx/${status.registeredTx}/proof`);
    expect(proof.status).toBe(200);
    await writeFile(file('proof.json'), JSON.stringify(proof.body));
    const valid = await cbsg([
      'verify-proof',
      file('proof.json'),
      '--genesis',
      path.join(harness.dir, CONSORTIUM_FILES.genesis),
    ]);
    expect(valid).toMatchObject({
      code: 0,
      stdout: expect.stringContaining('valid: the transaction is in block'),
    });

    await writeFile(file('not-a-proof.txt'), 'hello');
    const refused = await cbsg(['verify-proof', file('not-a-proof.txt')]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('is not JSON');
  });

  it('given bench should name the script it runs with the arguments after --; an unknown benchmark should be refused', async () => {
    const dryRun = await cbsg(['bench', 'crypto', '--dry-run', '--', '--duration', '3']);
    expect(dryRun.code).toBe(0);
    expect(dryRun.stdout).toContain(
      `@swc-node/register ${path.join('bench', 'crypto.bench.ts')} --duration 3`,
    );

    const unknown = await cbsg(['bench', 'no-such-bench']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(
      /no benchmark "no-such-bench"; the benchmarks are: (\w[\w-]*, )*chain, crypto/,
    );
  });
});
