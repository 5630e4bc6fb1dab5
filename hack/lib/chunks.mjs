// Parts of the CLI bundled as files of their own and loaded on first use (src/sea.ts#loadChunk):
// V8 keeps a loaded script's whole source for the life of the process, and a watch of a git
// remote never runs the AWS SDK. hack/build.mjs bundles each chunk and points the lazy imports
// of its modules at it; hack/build-binary.mjs carries each as an asset of the single binary.
export const CHUNKS = [
  {
    file: "mirrorshade-aws.cjs",
    // Most of the CLI's code (~1.3 of 2.3 MB), for S3 remotes only.
    modules: ["@aws-sdk/client-s3", "@aws-sdk/lib-storage"],
  },
];
