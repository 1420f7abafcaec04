import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

import type { Response } from 'express';

import { ConsoleAssetsController } from './console-assets.controller';

/** The parts of an express Response the controller uses when there is nothing to send a file from. */
function recordingResponse() {
  const sent: { status?: number; type?: string; body?: string } = {};
  const response = {
    status(code: number) {
      sent.status = code;
      return response;
    },
    type(value: string) {
      sent.type = value;
      return response;
    },
    send(body: string) {
      sent.body = body;
      return response;
    },
  };
  return { response: response as unknown as Response, sent };
}

describe('ConsoleAssetsController', () => {
  let empty: string;

  beforeAll(async () => {
    empty = await mkdtemp(path.join(tmpdir(), 'cbsg-console-missing-'));
  });

  afterAll(async () => {
    await rm(empty, { recursive: true, force: true });
  });

  it('given no console build, when /console is asked for, should answer 503 telling to run npm run console:build', () => {
    const { response, sent } = recordingResponse();
    new ConsoleAssetsController(empty).page(response);
    expect(sent.status).toBe(503);
    expect(sent.type).toMatch(/^text\/plain/);
    expect(sent.body).toContain('npm run console:build');
  });

  it('given no console build, when an asset is asked for, should answer the same message, not crash', () => {
    const { response, sent } = recordingResponse();
    new ConsoleAssetsController(path.join(empty, 'nowhere')).asset(['assets', 'index-abc.js'], response);
    expect(sent).toMatchObject({ status: 503, body: expect.stringContaining('npm run console:build') });
  });
});
