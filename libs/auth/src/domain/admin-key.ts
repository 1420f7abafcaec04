import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

import { AuthError } from './auth-error';

/**
 * Admin API keys: the operators of a node are not members of the chain and hold no registered key,
 * so they get a random key made on the node (`cbsg admin-key create`). Only its SHA-256 is stored: the
 * secret part is 256 random bits, which no one can guess from the hash, so a slow password hash would
 * buy nothing and cost every request.
 *
 * Form: `cbsg_admin_<id>_<secret>`, id 12 hex digits (to find the row), secret 43 base64url characters.
 */
const ADMIN_KEY_RE = /^cbsg_admin_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$/;

export interface NewAdminKey {
  id: string;
  /** The whole key, shown once to whoever made it. */
  key: string;
  secretHash: Buffer;
}

export function generateAdminKey(): NewAdminKey {
  const id = randomBytes(6).toString('hex');
  const secret = randomBytes(32).toString('base64url');
  return { id, key: `cbsg_admin_${id}_${secret}`, secretHash: hashAdminSecret(secret) };
}

export function isAdminKey(text: string): boolean {
  return text.startsWith('cbsg_admin_');
}

export function parseAdminKey(key: string): { id: string; secret: string } {
  const match = ADMIN_KEY_RE.exec(key);
  if (!match) {
    throw new AuthError('AUTH.MALFORMED', 'the admin key is not of the form cbsg_admin_<id>_<secret>');
  }
  return { id: match[1]!, secret: match[2]! };
}

export function hashAdminSecret(secret: string): Buffer {
  return createHash('sha256').update(secret, 'utf8').digest();
}

export function adminSecretMatches(secret: string, storedHash: Uint8Array): boolean {
  const hash = hashAdminSecret(secret);
  return storedHash.length === hash.length && timingSafeEqual(hash, storedHash);
}
