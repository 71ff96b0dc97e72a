import * as z from 'zod';

/** A Lambda's environment failed validation; the message names each bad variable. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

export interface Environment<T> {
  /** Validates `env`; throws ConfigError naming every bad variable. */
  parse(env: Record<string, string | undefined>): T;
  /** `process.env`, validated on first use and then cached: importing a handler needs no AWS env. */
  get(): T;
}

export function environment<S extends z.ZodType>(functionName: string, schema: S): Environment<z.output<S>> {
  const parse = (env: Record<string, string | undefined>): z.output<S> => {
    const parsed = schema.safeParse(env);
    if (!parsed.success) {
      throw new ConfigError(`invalid ${functionName} environment:\n${z.prettifyError(parsed.error)}`, {
        cause: parsed.error,
      });
    }
    return parsed.data;
  };
  let cached: z.output<S> | undefined;
  return {
    parse,
    get: () => {
      cached ??= parse(process.env);
      return cached;
    },
  };
}

/**
 * A list from a JSON array (cdk.json) or a comma-separated string (`-c key=a,b`, an environment
 * variable), blanks dropped, each entry checked by `item`.
 */
export const commaList = (item: z.ZodType<string, string>) =>
  z
    .union([z.array(z.string()), z.string()])
    .transform((v) => (Array.isArray(v) ? v : v.split(',')).map((s) => s.trim()).filter((s) => s.length > 0))
    .pipe(z.array(item));
