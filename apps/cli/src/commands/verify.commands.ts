import { readFile } from 'node:fs/promises';

import type { Command } from 'commander';
import { Pool } from 'pg';

import { ChainVerifier } from '@app/chain';
import { BlsPublicKey, CryptoPool, fromHex, initCrypto } from '@app/crypto';
import { checkInclusionProof, type Genesis, loadGenesis } from '@app/ledger';

import { CliError, EXIT_CODES } from '../cli-error';
import { wholeNumber } from '../options';
import { type Progress, progressBar } from '../progress';

async function readGenesis(file: string): Promise<Genesis> {
  return loadGenesis(JSON.parse(await readFile(file, 'utf8')) as unknown);
}

/** verify-proof: an inclusion proof checked offline, with no node and no database. */
export function registerVerifyProof(program: Command): void {
  program
    .command('verify-proof')
    .description(
      'Check an inclusion proof (the JSON of GET /tx/:hash/proof) offline: the block hash, the Merkle path to the header, and with --genesis the producer signature.',
    )
    .argument('<proof>', 'file holding the proof JSON ("-" for standard input)')
    .option('--header <hex>', 'check against this block header (hex) instead of the one inside the proof')
    .option(
      '--genesis <file>',
      "genesis.json: check the producer's signature with the delegate's genesis key",
    )
    .action(async (file: string, options: { header?: string; genesis?: string }) => {
      await initCrypto();
      const text = file === '-' ? await readStdin() : await readFile(file, 'utf8');
      let proof: unknown;
      try {
        proof = JSON.parse(text);
      } catch {
        throw new CliError(`${file} is not JSON (expected the answer of GET /tx/:hash/proof)`);
      }
      const genesis = options.genesis ? await readGenesis(options.genesis) : undefined;
      const delegates = new Map(
        (genesis?.document.delegates ?? []).map((d) => [
          d.id,
          BlsPublicKey.fromBytes(fromHex(d.publicKey, 'key', 48)),
        ]),
      );
      const result = checkInclusionProof(proof, {
        ...(options.header ? { header: options.header.toLowerCase() } : {}),
        ...(genesis ? { producerKey: (id: string) => delegates.get(id) } : {}),
      });
      if (!result.ok) {
        process.stdout.write(`INVALID: ${result.reason}\n`);
        process.exitCode = EXIT_CODES.invalid;
        return;
      }
      process.stdout.write(
        `valid: the transaction is in block ${result.height} (${result.blockHash}) produced by ${result.producer}` +
          `${result.producerSignatureChecked ? ', signature checked against the genesis key' : ' (producer signature not checked: pass --genesis)'}\n`,
      );
    });
}

/** verify-chain: every hash, root and signature of a node's database, from genesis. */
export function registerVerifyChain(program: Command): void {
  program
    .command('verify-chain')
    .description(
      "Recompute every block hash, previous hash, producer, signature, quorum certificate, Merkle root and report signature of a node's database from genesis; names the first block that does not hold.",
    )
    .requiredOption('--database-url <url>', "the node's PostgreSQL database")
    .requiredOption('--genesis <file>', 'the genesis.json of the chain')
    .option('--workers <n>', 'verification worker threads (default: one per core)', wholeNumber(1))
    .action(async (options: { databaseUrl: string; genesis: string; workers?: number }) => {
      await initCrypto();
      const genesis = await readGenesis(options.genesis);
      const pool = new Pool({ connectionString: options.databaseUrl, max: 2 });
      const crypto = await CryptoPool.start(genesis.params, options.workers ? { size: options.workers } : {});
      try {
        const verifier = new ChainVerifier(
          pool,
          {
            chainId: genesis.document.chainId,
            genesisHash: genesis.hash,
            timing: {
              genesisTime: genesis.document.createdAt,
              slotMs: genesis.document.consensus.slotMs,
              producers: genesis.document.consensus.producers,
            },
          },
          (items) => crypto.verifyReports(items),
        );
        // The verifier learns the last height once it starts: the bar appears with the first batch.
        let progress: Progress | undefined;
        let result;
        try {
          result = await verifier.verify({
            onProgress: (height, reports, lastHeight) => {
              progress ??= progressBar('verifying blocks', Number(lastHeight));
              progress.update(Number(height), `${reports} reports`);
            },
          });
        } finally {
          progress?.stop();
        }
        const counts = `${result.blocksChecked} blocks, ${result.transactionsChecked} transactions, ${result.reportsChecked} reports in ${result.seconds.toFixed(1)} s`;
        if (result.ok) {
          process.stdout.write(`chain valid: ${counts}\n`);
        } else {
          process.stdout.write(
            `CHAIN INVALID at height ${result.firstBad!.height}: ${result.firstBad!.reason} (before it: ${counts})\n`,
          );
          process.exitCode = EXIT_CODES.invalid;
        }
      } finally {
        await crypto.close();
        await pool.end();
      }
    });
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) {
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}
