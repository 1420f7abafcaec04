import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { parseControlCenterConfig } from '@app/config';

import { type Consortium, CONSORTIUM_FILES, createConsortium, writeConsortium } from './consortium-setup';
import { PartialKeyService } from './partial-key.service';

const PASSPHRASE = 'correct horse battery staple';
const SCRYPT = { N: 2 ** 14, r: 8, p: 1 };

function consortium(chainId: string): Promise<Consortium> {
  return createConsortium({
    chainId,
    organisations: [
      { id: 'cc', name: 'Control center', roles: ['control-center', 'receiver'], stake: 100 },
      { id: 'grid', name: 'Grid operator', roles: ['grid-operator', 'receiver'], stake: 50 },
    ],
    delegates: [{ id: 'delegate-1', organisation: 'cc' }],
    nodes: [{ id: 'node-1', organisation: 'cc' }],
    producers: 1,
    slotMs: 1_000,
  });
}

describe('PartialKeyService start-up', () => {
  let work: string;
  let ours: string;
  let other: string;

  beforeAll(async () => {
    work = await mkdtemp(path.join(tmpdir(), 'cbsg-cc-'));
    ours = path.join(work, 'ours');
    other = path.join(work, 'other');
    await writeConsortium(await consortium('cbsg-ours'), ours, PASSPHRASE, { scrypt: SCRYPT });
    await writeConsortium(await consortium('cbsg-other'), other, PASSPHRASE, { scrypt: SCRYPT });
  });

  afterAll(async () => {
    await rm(work, { recursive: true, force: true });
  });

  const service = (keysDir: string) =>
    new PartialKeyService(
      parseControlCenterConfig({
        NODE_URL: 'http://127.0.0.1:9',
        GENESIS_FILE: path.join(ours, CONSORTIUM_FILES.genesis),
        CC_KEYS_DIR: keysDir,
        CC_PASSPHRASE: PASSPHRASE,
      }),
    );

  it('given the keystores of its own setup, should start', async () => {
    await expect(service(ours).onModuleInit()).resolves.toBeUndefined();
  });

  it.each([
    ['master key', CONSORTIUM_FILES.masterKey],
    ['organisation key', CONSORTIUM_FILES.organisationKey('cc')],
  ])('given a %s from another setup, should refuse to start', async (_, file) => {
    const mixed = path.join(work, `mixed-${path.basename(file)}`);
    await writeConsortium(await consortium('cbsg-ours-copy'), mixed, PASSPHRASE, { scrypt: SCRYPT });
    for (const own of [CONSORTIUM_FILES.masterKey, CONSORTIUM_FILES.organisationKey('cc')]) {
      await copyFile(path.join(own === file ? other : ours, own), path.join(mixed, own));
    }
    await expect(service(mixed).onModuleInit()).rejects.toThrow(/does not match the genesis/);
  });
});
