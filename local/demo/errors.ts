/** The command line could not be understood: the message says what to fix. */
export class DemoUsageError extends Error {
  override readonly name = 'DemoUsageError';
}

/** The OTLP endpoint cannot be reached or refuses the key: the message says what to check. */
export class DemoConnectionError extends Error {
  override readonly name = 'DemoConnectionError';
}
