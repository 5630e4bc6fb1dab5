/**
 * The SDK client, set up once: endpoint (option, then AWS_ENDPOINT_URL_S3/AWS_ENDPOINT_URL),
 * a region always set, path style and checksum mode for non-AWS stores, keep-alive agents
 * that honour HTTPS_PROXY/NO_PROXY, and credentials from mounted files re-read on use.
 * The SDK itself is imported here, lazily: a git-only run never loads it.
 */
import { createHash } from "node:crypto";
import http from "node:http";
import https from "node:https";
import type * as S3 from "@aws-sdk/client-s3";
import type { Settings } from "../../src/config";
import { readSecretFile } from "../../src/credentials";
import { ConfigError } from "../../src/errors";
import type { Logger } from "../../src/log";
import { addSecret } from "../../src/redact";
import type { Sdk } from "./context";
import { CONNECT_MS, IDLE_MS, withDeadlines } from "./timeouts";

export interface Client {
  sdk: Sdk;
  client: S3.S3Client;
  endpoint: string | undefined;
}

export async function openClient(s: Settings, log: Logger): Promise<Client> {
  const env = process.env;
  // As the aws CLI: the service-specific variable, then the general one (unless told to ignore both).
  const fromEnv =
    env.AWS_IGNORE_CONFIGURED_ENDPOINT_URLS === "true" ? undefined : env.AWS_ENDPOINT_URL_S3 || env.AWS_ENDPOINT_URL;
  const endpoint = s.s3Endpoint ?? (fromEnv || undefined);
  if (endpoint !== undefined && !/^https?:\/\/[^/]+/i.test(endpoint)) {
    throw new ConfigError(`bad S3 endpoint "${endpoint}"`, { hint: "use http(s)://host[:port]" });
  }
  const aws = endpoint === undefined || /\.amazonaws\.com(\.cn)?(:\d+)?(\/|$)/i.test(endpoint);
  let sdk: Sdk;
  try {
    sdk = await import("@aws-sdk/client-s3");
  } catch (err) {
    throw new ConfigError("the S3 SDK (@aws-sdk/client-s3) is not installed", { hint: "npm ci", cause: err });
  }
  const region = await resolveRegion(sdk, s.s3Region);
  // Non-AWS stores break on the SDK's default checksums (aws-chunked trailers): only when required.
  const checksum = s.s3ChecksumMode ?? (aws ? undefined : "WHEN_REQUIRED");
  const agent = agentOptions(s.s3Concurrency, log);
  const ca = s.caFile ?? env.AWS_CA_BUNDLE;
  addSecret(env.AWS_SECRET_ACCESS_KEY);
  addSecret(env.AWS_SESSION_TOKEN);
  const client = new sdk.S3Client({
    region,
    endpoint,
    forcePathStyle: s.s3PathStyle ?? !aws,
    followRegionRedirects: aws,
    requestChecksumCalculation: checksum,
    responseChecksumValidation: checksum,
    credentials: fileCredentials(s),
    requestHandler: {
      httpAgent: new http.Agent(agent),
      httpsAgent: new https.Agent({ ...agent, ca: ca ? readSecretFile(ca, "CA bundle") : undefined }),
      connectionTimeout: CONNECT_MS,
      socketTimeout: IDLE_MS,
      // The per-request answer deadline (set by withDeadlines) fails the request instead of logging a warning.
      throwOnRequestTimeout: true,
    },
  });
  withDeadlines(client);
  return { sdk, client, endpoint };
}

/** Always set: the option, AWS_REGION or the profile's (the SDK's own lookup), else us-east-1. */
async function resolveRegion(sdk: Sdk, option: string | undefined): Promise<string> {
  let region = option;
  if (region === undefined) {
    const probe = new sdk.S3Client({});
    region = await (probe.config.region as () => Promise<string>)().catch(() => "us-east-1");
    probe.destroy();
  }
  if (!/^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/i.test(region)) {
    throw new ConfigError(`bad S3 region "${region}"`, { hint: "e.g. us-east-1, eu-central-1 (MinIO: us-east-1)" });
  }
  return region;
}

/** Credentials from mounted files, re-read before every request (a Secret rotates); else the SDK's chain. */
function fileCredentials(s: Settings) {
  const { s3AccessKeyIdFile: idFile, s3SecretAccessKeyFile: keyFile, s3SessionTokenFile: tokenFile } = s;
  if (!idFile && !keyFile) return undefined;
  if (!idFile || !keyFile) {
    throw new ConfigError("S3 credentials from files need both the access key id file and the secret key file", {
      hint: "set MIRRORSHADE_S3_ACCESS_KEY_ID_FILE and MIRRORSHADE_S3_SECRET_ACCESS_KEY_FILE",
    });
  }
  return async () => {
    const read = (f: string, what: string) => readSecretFile(f, what).trim();
    const secretAccessKey = read(keyFile, "S3 secret key file");
    const sessionToken = tokenFile ? read(tokenFile, "S3 session token file") : undefined;
    addSecret(secretAccessKey);
    addSecret(sessionToken);
    // Expiring at once makes the SDK ask again for the next request.
    return {
      accessKeyId: read(idFile, "S3 access key id file"),
      secretAccessKey,
      sessionToken,
      expiration: new Date(),
    };
  };
}

/** The agents: keep-alive, enough sockets, and HTTPS_PROXY/HTTP_PROXY/NO_PROXY (Node's own support). */
function agentOptions(concurrency: number, log: Logger): https.AgentOptions {
  const opts: https.AgentOptions = { keepAlive: true, maxSockets: Math.max(50, concurrency * 2) };
  const env = process.env;
  if (!["HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"].some((k) => env[k])) return opts;
  // The v3 SDK ignores proxy variables unless its agent handles them: Node ≥ 24.5 (and 22.21) does.
  const probe = new http.Agent({ proxyEnv: { HTTP_PROXY: "http://127.0.0.1:1" } });
  if (Object.getOwnPropertySymbols(probe).some((sym) => String(sym) === "Symbol(kProxyConfig)")) {
    return { ...opts, proxyEnv: env };
  }
  log.warn(`HTTPS_PROXY/HTTP_PROXY are set but this Node (${process.version}) cannot use them for S3: use Node 24.5+`);
  return opts;
}

/** Stores that want Content-MD5 on DeleteObjects (older MinIO, Ceph) get it; WHEN_REQUIRED alone sends CRC32. */
export const contentMd5 =
  (next: (args: { request: unknown }) => Promise<unknown>) =>
  async (args: { request: unknown }): Promise<unknown> => {
    const req = args.request as { headers?: Record<string, string>; body?: unknown };
    if (
      req.headers &&
      typeof req.body === "string" &&
      !Object.keys(req.headers).some((h) => /^content-md5$/i.test(h))
    ) {
      req.headers["content-md5"] = createHash("md5").update(req.body).digest("base64");
    }
    return next(args);
  };
