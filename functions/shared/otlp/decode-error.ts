/**
 * A request body that cannot be parsed at all. The message is the reason the receiver returns
 * in its 400 response, so it is written for the user who sent the request.
 */
export class OtlpDecodeError extends Error {
  override readonly name = 'OtlpDecodeError';

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}
