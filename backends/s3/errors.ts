/** SDK and network errors → mirrorshade's typed errors, at the backend's edge (the original as `cause`). */
import { AuthError, ConfigError, MirrorshadeError, NotFoundError, TransientError } from "../../src/errors";

/** Translate an SDK or network error into our typed errors; unknown errors pass through (a bug, not the remote). */
export function translate(err: unknown, where: string): unknown {
  if (err instanceof MirrorshadeError) return err;
  const e = err as { name?: string; code?: string; message?: string };
  const st = status(err);
  const c = code(err);
  const msg = String(e.message ?? err);
  const o = (hint: string) => ({ hint, cause: err });
  if (e.name === "CredentialsProviderError" || /Could not load credentials/i.test(msg)) {
    return new AuthError(
      `no S3 credentials for ${where}`,
      o(
        "set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or MIRRORSHADE_S3_ACCESS_KEY_ID_FILE and …_SECRET_ACCESS_KEY_FILE",
      ),
    );
  }
  if (c === "NoSuchBucket") return new NotFoundError(`bucket of ${where} does not exist`, o("--create makes it"));
  if (
    st === 401 ||
    st === 403 ||
    /^(AccessDenied|InvalidAccessKeyId|SignatureDoesNotMatch|ExpiredToken|InvalidToken)$/.test(c)
  ) {
    return new AuthError(`${where} refused our credentials: ${c || st}`, o("check the access key, secret and policy"));
  }
  if (st === 301 || c === "PermanentRedirect" || c === "AuthorizationHeaderMalformed") {
    return new ConfigError(`${where} is in another region: ${msg}`, o("set --s3-region (AWS_REGION)"));
  }
  if (st === 412)
    return new TransientError(
      `${where}: an object changed meanwhile`,
      o("another writer saved at the same time: try again"),
    );
  if (st && (st >= 500 || st === 408 || st === 429 || c === "SlowDown" || c === "RequestTimeout")) {
    return new TransientError(
      `${where}: the store answered ${st} ${c}`,
      o("the store is busy or failing: try again later"),
    );
  }
  if (st && st >= 400)
    return new ConfigError(`${where} refused the request: ${c || st} ${msg}`, o("check the S3 settings"));
  if (/Region not accepted|Invalid region/i.test(msg))
    return new ConfigError(`bad S3 region: ${msg}`, o("e.g. us-east-1"));
  if (/CERT|certificate|self[- ]signed/i.test(`${e.code} ${msg}`)) {
    return new ConfigError(`TLS to ${where} failed: ${msg}`, o("point AWS_CA_BUNDLE (or --ca-file) at the store's CA"));
  }
  if (["ENOTFOUND", "EAI_AGAIN"].includes(e.code ?? "")) {
    return new TransientError(`cannot resolve the S3 endpoint host: ${msg}`, o("check --s3-endpoint and DNS"));
  }
  if (e.name === "TimeoutError" || e.name === "AbortError") {
    // Our deadlines (timeouts.ts) and the SDK's socket timeouts: the store is silent or too slow.
    // The SDK's wording names its own package and options: keep what a person can act on.
    const why = ((err as { cause?: { message?: string } }).cause?.message ?? msg)
      .replace(/^@smithy\/[\w-]+ - (\[\w+\] )?/, "")
      .replace(/ \(configured by client requestHandler\)| Init client requestHandler.*$/, "")
      .replace(/a request has exceeded the configured (\d+) ms requestTimeout/, "no answer within $1 ms");
    return new TransientError(
      `no answer from ${where} in time: ${why}`,
      o("check --s3-endpoint, the network and the store"),
    );
  }
  const net = ["ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "EPIPE", "EHOSTUNREACH", "ENETUNREACH", "ECONNABORTED"];
  if (
    net.includes(e.code ?? "") ||
    ["TimeoutError", "RequestTimeout"].includes(e.name ?? "") ||
    /socket hang up/i.test(msg)
  ) {
    return new TransientError(`cannot reach ${where}: ${msg}`, o("check --s3-endpoint and the network"));
  }
  return err;
}

/** The HTTP status of an SDK error, when the store answered. */
export function status(err: unknown): number | undefined {
  return (err as { $metadata?: { httpStatusCode?: number } })?.$metadata?.httpStatusCode;
}

/** The S3 error code (`NoSuchKey`, …) or the error's name. */
export function code(err: unknown): string {
  const e = err as { Code?: string; name?: string };
  return e?.Code ?? e?.name ?? "";
}
