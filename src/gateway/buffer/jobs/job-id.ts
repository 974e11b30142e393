import { randomBytes } from 'node:crypto';

/** 128 random bits, URL-safe: job ids are capabilities in form, so they must not be guessable. */
export function newJobId(): string {
  return randomBytes(16).toString('base64url');
}

/** Ids this gateway could have made; anything else is not looked up. */
export function isJobId(value: string): boolean {
  return /^[A-Za-z0-9_-]{22}$/.test(value);
}
