import type { INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import { Logger } from 'nestjs-pino';

import { type ControlCenterConfig, loadControlCenterConfig } from '@app/config';

import { ControlCenterModule } from './control-center.module';

export async function createControlCenterApp(
  config: ControlCenterConfig = loadControlCenterConfig(),
): Promise<INestApplication> {
  const app = await NestFactory.create(ControlCenterModule.forRoot(config), {
    logger: false,
    abortOnError: false,
  });
  app.useLogger(app.get(Logger));
  app.enableShutdownHooks();
  const document = SwaggerModule.createDocument(
    app,
    new DocumentBuilder()
      .setTitle('CBSG control center')
      .setDescription('Partial private keys for registered identities.')
      .setVersion('0.1.0')
      .build(),
  );
  SwaggerModule.setup('docs', app, document, { jsonDocumentUrl: 'openapi.json' });
  return app;
}
