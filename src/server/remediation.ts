import type { BatonError } from '../errors.js';

/**
 * What a caller of the HTTP API should do about an error, in the HTTP API's words (README,
 * "Problems"). Each error carries them where it is made (`httpRemediation`, BatonErrorOptions):
 * which route to call, what to send, which operation the key needs. An error without them gets
 * the library's sentence. What only the server's operator can fix (`forOperator`: its
 * configuration, its provider specs, its clients, its store) says so, and the operator finds the
 * library's own sentence in the server's log.
 */
export function httpRemediation(err: BatonError): { text: string; operator?: string } {
  if (!err.forOperator) return { text: err.httpRemediation ?? err.remediation };
  return {
    text:
      err.httpRemediation ??
      `This is a matter of the server's configuration${err.provider ? ` for ${err.provider}` : ''}: tell its operator (the server's log has the details under this request's id).`,
    operator: err.remediation,
  };
}
