import { existsSync } from 'node:fs';
import path from 'node:path';

import { Controller, Get, HttpStatus, Inject, Param, Res } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import type { Response } from 'express';

import { Public } from '@app/auth';
import { repoRoot } from '@app/persistence';

/** Where `npm run console:build` writes the console (gitignored, like every build output). */
export function consoleBuildDir(): string {
  return path.join(repoRoot(), 'dist', 'console');
}

/** The folder the console is served from (consoleBuildDir; tests give another). */
export const CONSOLE_BUILD_DIR = Symbol('ConsoleBuildDir');

/**
 * The admin key lives in the page's sessionStorage: only the console's own scripts may run there,
 * it may talk to this node alone, and no other site may frame it.
 */
const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

const NOT_BUILT =
  'The admin console is not built on this node.\n\n' +
  'Run `npm run console:build` in the repository (it writes dist/console), then reload this page.\n';

/**
 * Serves the console's static files at /console. They hold nothing secret (the page asks for an
 * admin key and sends it with each API call), so they are public; the data is behind the admin API.
 */
@ApiExcludeController()
@Public()
@Controller('console')
export class ConsoleAssetsController {
  constructor(@Inject(CONSOLE_BUILD_DIR) private readonly dir: string) {}

  @Get()
  page(@Res() response: Response): void {
    this.sendPage(response);
  }

  @Get('*file')
  asset(@Param('file') file: string[] | string, @Res() response: Response): void {
    const relative = (Array.isArray(file) ? file : [file]).join('/');
    if (relative === '' || relative === 'index.html') {
      this.sendPage(response);
      return;
    }
    if (!existsSync(path.join(this.dir, 'index.html'))) {
      this.sendNotBuilt(response);
      return;
    }
    // Vite names every asset by its content hash: a name never changes meaning, so it may be kept.
    const immutable = relative.startsWith('assets/');
    // express's sendFile refuses paths that climb out of `root` and, with dotfiles 'deny', hidden files.
    response.sendFile(
      relative,
      {
        root: this.dir,
        dotfiles: 'deny',
        maxAge: immutable ? '365d' : 0,
        immutable,
        headers: { 'X-Content-Type-Options': 'nosniff' },
      },
      (error?: Error) => {
        if (error && !response.headersSent) {
          // The same JSON as every other error of the node (DomainErrorFilter).
          response
            .status(HttpStatus.NOT_FOUND)
            .json({ statusCode: 404, code: 'HTTP.NOT_FOUND', message: `no console file ${relative}` });
        }
      },
    );
  }

  private sendPage(response: Response): void {
    const index = path.join(this.dir, 'index.html');
    if (!existsSync(index)) {
      this.sendNotBuilt(response);
      return;
    }
    response.setHeader('Content-Security-Policy', CONTENT_SECURITY_POLICY);
    response.setHeader('Referrer-Policy', 'no-referrer');
    response.setHeader('X-Content-Type-Options', 'nosniff');
    // Always revalidated: a rebuilt console is picked up on the next load.
    response.setHeader('Cache-Control', 'no-cache');
    response.sendFile(index, (error?: Error) => {
      if (error && !response.headersSent) {
        this.sendNotBuilt(response);
      }
    });
  }

  private sendNotBuilt(response: Response): void {
    response.status(HttpStatus.SERVICE_UNAVAILABLE).type('text/plain; charset=utf-8').send(NOT_BUILT);
  }
}
