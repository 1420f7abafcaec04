import { mkdir, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';

import {
  blsGenerateKey,
  blsProvePossession,
  initCrypto,
  type KeystoreEntry,
  type ScryptParams,
  type SecretScalar,
  setupSystem,
  toHex,
  readKeystoreFile,
  writeKeystoreFile,
} from '@app/crypto';
import {
  type BlockRules,
  type GenesisDocument,
  genesisHash,
  loadGenesis,
  type OrganisationRole,
} from '@app/ledger';

/**
 * `cbsg setup`: the control center initialises the system (paper IV.A). It draws the master key x,
 * publishes the public parameters (Ypub in G1 and G2) as part of the genesis document, and seals x in
 * the CC's keystore. For a development consortium it can also make the member organisations' and
 * delegates' signing keys; in production each member makes its own and hands over only the public key
 * and its proof of possession.
 */
export interface OrganisationSpec {
  id: string;
  name: string;
  roles: OrganisationRole[];
  stake: number;
  /** The member's own BLS public key and proof of possession (hex); omitted: a key is made here. */
  publicKey?: string;
  proofOfPossession?: string;
}

export interface ConsortiumSpec {
  chainId: string;
  organisations: OrganisationSpec[];
  /** Delegates and the organisation that runs each. */
  delegates: Array<{ id: string; organisation: string }>;
  /** Accounting nodes and their operators (keys are made here). */
  nodes: Array<{ id: string; organisation: string }>;
  producers: number;
  slotMs: number;
  /** The block rules every node checks (genesis consensus); each left out takes its default. */
  blockRules?: Partial<BlockRules>;
  createdAt?: number;
}

export interface Consortium {
  genesis: GenesisDocument;
  genesisHash: string;
  masterKey: SecretScalar;
  /** Signing keys made here (organisations without a key of their own, every delegate). */
  organisationKeys: Map<string, SecretScalar>;
  delegateKeys: Map<string, SecretScalar>;
  nodeKeys: Map<string, SecretScalar>;
}

export async function createConsortium(spec: ConsortiumSpec): Promise<Consortium> {
  await initCrypto();
  const { masterKey, params } = setupSystem();
  const organisationKeys = new Map<string, SecretScalar>();
  const organisations = spec.organisations.map((org) => {
    if (org.publicKey && org.proofOfPossession) {
      return {
        id: org.id,
        name: org.name,
        roles: org.roles,
        stake: org.stake,
        publicKey: org.publicKey,
        proofOfPossession: org.proofOfPossession,
      };
    }
    const key = blsGenerateKey();
    organisationKeys.set(org.id, key.secret);
    return {
      id: org.id,
      name: org.name,
      roles: org.roles,
      stake: org.stake,
      publicKey: toHex(key.publicKey),
      proofOfPossession: toHex(blsProvePossession(key.secret)),
    };
  });
  const delegateKeys = new Map<string, SecretScalar>();
  const delegates = spec.delegates.map((d) => {
    const key = blsGenerateKey();
    delegateKeys.set(d.id, key.secret);
    return {
      id: d.id,
      organisation: d.organisation,
      publicKey: toHex(key.publicKey),
      proofOfPossession: toHex(blsProvePossession(key.secret)),
    };
  });
  const nodeKeys = new Map<string, SecretScalar>();
  const nodes = spec.nodes.map((n) => {
    const key = blsGenerateKey();
    nodeKeys.set(n.id, key.secret);
    return {
      id: n.id,
      organisation: n.organisation,
      publicKey: toHex(key.publicKey),
      proofOfPossession: toHex(blsProvePossession(key.secret)),
    };
  });
  const genesis: GenesisDocument = {
    version: 1,
    chainId: spec.chainId,
    createdAt: spec.createdAt ?? Date.now(),
    systemParams: params.toJSON(),
    organisations,
    delegates,
    nodes,
    consensus: {
      producers: spec.producers,
      slotMs: spec.slotMs,
      // Only those given: a genesis without them hashes as one written before they existed.
      ...Object.fromEntries(Object.entries(spec.blockRules ?? {}).filter(([, v]) => v !== undefined)),
    },
  };
  loadGenesis(genesis); // the same checks every node will run
  return {
    genesis,
    genesisHash: toHex(genesisHash(genesis)),
    masterKey,
    organisationKeys,
    delegateKeys,
    nodeKeys,
  };
}

/** Where `writeConsortium` puts things under its directory. */
export const CONSORTIUM_FILES = {
  genesis: 'genesis.json',
  masterKey: 'keys/cc-master.keystore.json',
  organisationKey: (id: string) => `keys/organisation-${id}.keystore.json`,
  delegateKey: (id: string) => `keys/delegate-${id}.keystore.json`,
  nodeKey: (id: string) => `keys/node-${id}.keystore.json`,
};

/**
 * Writes the genesis document and every secret made, each in a keystore sealed with `passphrase`
 * (mode 0600). Sealing costs a deliberate scrypt run per file, so `onKeystoreWritten` reports each
 * one (for a progress bar).
 */
export async function writeConsortium(
  consortium: Consortium,
  dir: string,
  passphrase: string,
  options: { scrypt?: ScryptParams; onKeystoreWritten?: (written: number, total: number) => void } = {},
): Promise<void> {
  const total =
    1 + consortium.organisationKeys.size + consortium.nodeKeys.size + consortium.delegateKeys.size;
  let written = 0;
  const writeKeystore = async (file: string, entry: KeystoreEntry) => {
    await writeKeystoreFile(path.join(dir, file), entry, passphrase, { scrypt: options.scrypt });
    written += 1;
    options.onKeystoreWritten?.(written, total);
  };
  await mkdir(path.join(dir, 'keys'), { recursive: true, mode: 0o700 });
  await writeFile(
    path.join(dir, CONSORTIUM_FILES.genesis),
    `${JSON.stringify(consortium.genesis, null, 2)}\n`,
    { mode: 0o644 },
  );
  const params = consortium.genesis.systemParams as { ypub1: string; ypub2: string };
  await writeKeystore(CONSORTIUM_FILES.masterKey, {
    kind: 'cc-master',
    id: consortium.genesis.chainId,
    publicKey: Buffer.concat([Buffer.from(params.ypub1, 'hex'), Buffer.from(params.ypub2, 'hex')]),
    key: consortium.masterKey,
  });
  for (const [id, key] of consortium.organisationKeys) {
    const org = consortium.genesis.organisations.find((o) => o.id === id)!;
    await writeKeystore(CONSORTIUM_FILES.organisationKey(id), {
      kind: 'bls',
      id,
      publicKey: Buffer.from(org.publicKey, 'hex'),
      key,
    });
  }
  for (const [id, key] of consortium.nodeKeys) {
    const node = consortium.genesis.nodes.find((n) => n.id === id)!;
    await writeKeystore(CONSORTIUM_FILES.nodeKey(id), {
      kind: 'bls',
      id,
      publicKey: Buffer.from(node.publicKey, 'hex'),
      key,
    });
  }
  for (const [id, key] of consortium.delegateKeys) {
    const delegate = consortium.genesis.delegates.find((d) => d.id === id)!;
    await writeKeystore(CONSORTIUM_FILES.delegateKey(id), {
      kind: 'bls',
      id,
      publicKey: Buffer.from(delegate.publicKey, 'hex'),
      key,
    });
  }
}

/** Reads back the organisation keystores `writeConsortium` wrote (development consortiums). */
export async function readOrganisationKeys(
  dir: string,
  passphrase: string,
): Promise<Map<string, SecretScalar>> {
  const keysDir = path.join(dir, 'keys');
  const names = (await readdir(keysDir)).filter(
    (n) => n.startsWith('organisation-') && n.endsWith('.keystore.json'),
  );
  const keys = new Map<string, SecretScalar>();
  for (const name of names) {
    const entry = await readKeystoreFile(path.join(keysDir, name), passphrase);
    keys.set(entry.id, entry.key);
  }
  return keys;
}
