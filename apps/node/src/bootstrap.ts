import type { INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { json } from 'express';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import { Logger } from 'nestjs-pino';

import { MAX_MESSAGE_BYTES } from '@app/chain';
import { APP_CONFIG, type AppConfig } from '@app/config';

import { NodeModule, type NodeModuleOptions } from './node.module';

/** Builds the node's HTTP application (used by main.ts and the end-to-end tests). */
export async function createNodeApp(options: NodeModuleOptions = {}): Promise<INestApplication> {
  // Nest's own logger stays off until pino takes over: a start-up failure then surfaces only as the
  // one-line error main.ts prints, not as Nest's stack traces.
  const app = await NestFactory.create<NestExpressApplication>(NodeModule.forRoot(options), {
    logger: false,
    abortOnError: false,
    bodyParser: false,
  });
  app.useLogger(app.get(Logger));
  // Size limits at the edge: a batch of reports and a peer's message (a block, gossip) may be large,
  // everything else is small.
  app.use('/reports/batch', json({ limit: '16mb' }));
  app.use('/p2p/messages', json({ limit: MAX_MESSAGE_BYTES }));
  app.use(json({ limit: '256kb' }));
  app.enableShutdownHooks();
  const document = SwaggerModule.createDocument(
    app,
    new DocumentBuilder()
      .setTitle('CBSG accounting node')
      .setDescription(
        'Meter intake, chain reads and operations of a CBSG accounting node.\n\n' +
          'Lists come a page at a time, as `{ <items>, next }`: pass `next` back as `cursor` (same order ' +
          'and filters) for the following page; `next` is null when nothing follows. Cursors are keys ' +
          '(a height, slot, position or id), not offsets, so paging stays exact while the chain grows. ' +
          'A bad parameter is a 400 with code REQUEST.INVALID_PARAMETER, a message that starts with ' +
          "the parameter's name, and `details.parameter`.",
      )
      .setVersion('0.1.0')
      .build(),
  );
  SwaggerModule.setup('docs', app, document, { jsonDocumentUrl: 'openapi.json' });
  return app;
}

export function configOf(app: INestApplication): AppConfig {
  return app.get<AppConfig>(APP_CONFIG);
}
