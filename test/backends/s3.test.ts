import { createS3Backend } from "../../backends/s3";
import { resolveSettings } from "../../src/config";
import { log } from "../../src/log";
import { backendContract } from "../contract/backend";
import { createBucket, s3Env, startProxy, startS3rver } from "../helpers/s3";

// The SDK reads credentials and region from the environment, as users set them for MinIO.
const { MIRRORSHADE_S3_ENDPOINT: _endpoint, ...awsEnv } = s3Env("");
Object.assign(process.env, awsEnv);

let n = 0;
const bucket = () => `b${process.pid}-${++n}`;

function target(opts: { conditional: boolean }) {
  let endpoint = "";
  return {
    async remote() {
      const server = await startS3rver({ buckets: [] });
      endpoint = opts.conditional
        ? (await startProxy(server.endpoint, { conditional: true })).endpoint
        : server.endpoint;
      const b = bucket();
      await createBucket(server.client, b);
      return `s3://${b}/some/prefix`;
    },
    missingRemote() {
      endpoint = ""; // a server of its own, started by open()
      return `s3://missing-${bucket()}/p`;
    },
    async open(remote: string, dir: string, stateDir: string) {
      if (!endpoint) {
        const server = await startS3rver({ buckets: [] });
        endpoint = server.endpoint;
      }
      const settings = await resolveSettings("push", dir, { remote, stateDir, s3Endpoint: endpoint }, {}, dir);
      return createS3Backend({ remote, dir, stateDir, settings, log });
    },
  };
}

backendContract("s3 (s3rver: no conditional writes)", target({ conditional: false }));
backendContract("s3 (conditional writes, as AWS has them)", target({ conditional: true }));
