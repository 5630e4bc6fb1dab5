# mirrorshade as a container: `mirrorshade watch` next to Jupyter in a pod (see README,
# "Container and Kubernetes"). The build context needs only dist/mirrorshade, the single
# binary (`npm run build:binary`); hack/build-image.sh builds it all with podman.
#
# A glibc base (the Node single binary needs glibc >= 2.28: no Alpine).
ARG BASE_IMAGE=docker.io/library/debian:bookworm-slim
FROM ${BASE_IMAGE}

ARG VERSION=0.0.0-dev
ARG REVISION=""
ARG SOURCE=""
LABEL org.opencontainers.image.title="mirrorshade" \
      org.opencontainers.image.description="Keeps a working directory saved to a remote store (git or S3): a sidecar next to Jupyter, or a CLI" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}"

# git: the backend. openssh-client: ssh remotes. ca-certificates: https remotes.
# tini: PID 1 (forwards SIGTERM to mirrorshade for its final save, reaps git/ssh children).
# libnss-wrapper: ssh refuses to start under a UID with no passwd entry (OpenShift's random
# UIDs); mirrorshade gives the ssh child alone an entry through it.
RUN apt-get update \
 && apt-get install -y --no-install-recommends git openssh-client ca-certificates tini libnss-wrapper \
 && apt-get clean \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb /var/log/apt /var/log/dpkg.log

# The work dir (an emptyDir shared with Jupyter in a pod), owned by group 0 and
# group-writable: OpenShift runs the image under a random UID in group 0. The state dir
# (/tmp/mirrorshade) is created at start, 0700, by whoever runs, in the sticky /tmp; with
# readOnlyRootFilesystem, /tmp must be an emptyDir.
RUN install -d -m 0775 -o 1001 -g 0 /work

COPY dist/mirrorshade /usr/local/bin/mirrorshade

# No WORKDIR /work on purpose: the config file is searched in the current directory, and the
# work dir is written by the notebook user. Configure with MIRRORSHADE_* env instead.
ENV MIRRORSHADE_DIR=/work \
    MIRRORSHADE_STATE_DIR=/tmp/mirrorshade

# Numeric, so Kubernetes' runAsNonRoot can verify it; any UID in group 0 works as well.
USER 1001:0

ENTRYPOINT ["/usr/bin/tini", "--", "mirrorshade"]
CMD ["watch"]
