import type { ConsortiumHarness } from './consortium-harness';

/**
 * GET `pathname` (as `as`: an organisation, ADMIN, or null for no credentials) and expect the edge's
 * refusal of a bad parameter: 400 REQUEST.INVALID_PARAMETER, a message that starts with the
 * parameter's name and never says "undefined", and the parameter in the details.
 */
export async function expectInvalidParameter(
  harness: ConsortiumHarness,
  pathname: string,
  parameter: string,
  as?: string | null,
): Promise<void> {
  const { status, body } = await harness.get(pathname, as);
  expect({ pathname, status, body }).toMatchObject({
    pathname,
    status: 400,
    body: {
      code: 'REQUEST.INVALID_PARAMETER',
      message: expect.stringMatching(new RegExp(`^${parameter} `)) as unknown,
      details: { parameter },
    },
  });
  expect((body as { message: string }).message).not.toMatch(/undefined/);
}
