import { readFile } from 'node:fs/promises';

import type { INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import { Logger } from 'nestjs-pino';

import { loadReceiverConfig, type ReceiverConfig } from '@app/config';
import { CryptoPool, initCrypto, readKeystoreFile, ReceiverPrivateKey } from '@app/crypto';
import { IdentityTokenSource } from '@app/auth';
import { blockRulesOf, loadGenesis } from '@app/ledger';

import { genesisNodeKeys } from './head-witness';
import { ReceiverModule } from './receiver.module';

/** Opens the receiver's key (its keystore must hold this receiver's key), then builds the app. */
export async function createReceiverApp(
  config: ReceiverConfig = loadReceiverConfig(),
): Promise<INestApplication> {
  await initCrypto();
  const genesis = loadGenesis(JSON.parse(await readFile(config.genesisFile, 'utf8')) as unknown);
  const entry = await readKeystoreFile(config.keystoreFile, config.passphrase);
  if (entry.kind !== 'receiver' || entry.id !== config.receiverId) {
    throw new Error(
      `${config.keystoreFile} holds the ${entry.kind} key of "${entry.id}", not receiver "${config.receiverId}"`,
    );
  }
  // Checks the secret against the public key stored beside it before any share depends on it.
  ReceiverPrivateKey.create(genesis.params, entry.id, entry.key, entry.publicKey.subarray(0, 48));
  const crypto = await CryptoPool.start(
    genesis.params,
    config.cryptoWorkers === undefined ? {} : { size: config.cryptoWorkers },
  );
  try {
    const receiver = await crypto.loadReceiverKey(entry.id, entry.key);
    const organisation = await readKeystoreFile(config.organisation.keystoreFile, config.passphrase);
    if (organisation.id !== config.organisation.id) {
      throw new Error(
        `${config.organisation.keystoreFile} holds the key of "${organisation.id}", not organisation "${config.organisation.id}"`,
      );
    }
    const nodeTokens = new IdentityTokenSource(organisation.key, genesis.document.chainId, {
      kind: 'organisation',
      id: organisation.id,
    });
    await checkOwnership(config, nodeTokens);
    const app = await NestFactory.create(
      ReceiverModule.forRoot(config, {
        crypto,
        receiver,
        genesisHash: genesis.hash,
        chainId: genesis.document.chainId,
        entryWindowMs: blockRulesOf(genesis.document).entryWindowMs,
        members: genesis.document,
        nodeKeys: genesisNodeKeys(genesis.document.nodes),
        organisationKey: organisation.key,
        nodeAuthorization: () => nodeTokens.authorization(),
      }),
      { logger: false, abortOnError: false },
    );
    app.useLogger(app.get(Logger));
    app.enableShutdownHooks();
    const document = SwaggerModule.createDocument(
      app,
      new DocumentBuilder()
        .setTitle(`CBSG receiver ${config.receiverId}`)
        .setDescription("A receiver's decrypted share of the chain.")
        .setVersion('0.1.0')
        .addBearerAuth({ type: 'http', scheme: 'bearer', description: "the organisation's cbsg1 token" })
        .build(),
    );
    SwaggerModule.setup('docs', app, document, { jsonDocumentUrl: 'openapi.json' });
    return app;
  } catch (error) {
    await crypto.close();
    throw error;
  }
}

/**
 * The receiver's API is its organisation's alone: a receiver configured with an organisation that did
 * not register it would open its data to the wrong one. So it starts only once the node has said who
 * registered it (docs/guarantees.md): a node not up yet, or answering 5xx or 429, is asked again every
 * second for NODE_WAIT_SECONDS; a node that has no such receiver, or refuses the organisation's
 * credentials, is a refusal at once.
 */
async function checkOwnership(config: ReceiverConfig, tokens: IdentityTokenSource): Promise<void> {
  const url = `${config.nodeUrl}/receivers/${encodeURIComponent(config.receiverId)}`;
  const organisation = config.organisation.id;
  const refuse = (why: string) => new Error(`receiver ${config.receiverId} refuses to start: ${why}`);
  const deadline = Date.now() + config.nodeWaitMs;
  let last = 'no answer';
  for (;;) {
    const response = await fetch(url, {
      headers: { authorization: tokens.authorization() },
      signal: AbortSignal.timeout(Math.max(100, Math.min(5_000, deadline - Date.now()))),
    }).catch((error: unknown) => {
      // No connection, or no answer in time: the node is not up, or not answering yet.
      const failure = error as { message?: string; cause?: { code?: string } };
      last = failure.cause?.code ?? failure.message ?? String(error);
      return undefined;
    });
    if (response?.ok) {
      const registered = (await response.json()) as { organisation?: string };
      if (registered.organisation !== organisation) {
        throw new Error(
          `receiver ${config.receiverId} was registered by ${registered.organisation ?? 'someone else'}, not by ORGANISATION_ID ${organisation}`,
        );
      }
      return;
    }
    if (response?.status === 404) {
      throw refuse(`the node at ${config.nodeUrl} has no receiver ${config.receiverId}`);
    }
    if (response?.status === 401 || response?.status === 403) {
      throw refuse(
        `the node at ${config.nodeUrl} refused ${organisation}'s credentials (${response.status})`,
      );
    }
    if (response) {
      last = `it answered ${response.status}`;
    }
    // The last try is at the deadline: the node gets all of NODE_WAIT_SECONDS to come up.
    const remaining = deadline - Date.now();
    if (remaining <= 0) {
      throw refuse(
        `the node at ${config.nodeUrl} did not confirm within ${config.nodeWaitMs / 1_000} s that ORGANISATION_ID ${organisation} registered it (${last})`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, Math.min(1_000, remaining)));
  }
}
