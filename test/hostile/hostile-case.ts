/**
 * One hostile request for the corpora beside this file: what to send (path relative to the server root)
 * and what a hardened server answers. Shared by serving-, openai- and control-corpus.ts.
 */
export interface HostileCase {
  name: string;
  method: string;
  path: string;
  headers?: Record<string, string>;
  body: string | Buffer;
  expectStatus: number;
  /** A piece of the response body (the error message or code) that says the server understood why. */
  expectBodyIncludes?: string;
}
