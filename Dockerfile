# The agentway image: one CLI for every process (`controller`, `route-server`, `router`, `synth`, ...), holding
# the compiled JavaScript and the production dependencies only, run as a numeric non-root user.
#
# BASE_IMAGE runs it and needs Node.js 20 or newer on its PATH; BUILD_IMAGE compiles it and needs npm as well.
# `npm run image` passes both, made locally from Debian packages; `docker build .` uses the official Node image.
ARG BASE_IMAGE=docker.io/library/node:20-bookworm-slim
ARG BUILD_IMAGE=${BASE_IMAGE}

FROM ${BUILD_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
# Behind a TLS-intercepting proxy, pass its CA bundle as a build secret (`--secret id=ca-certificates,src=...`);
# it is used by npm here and is in no layer.
RUN --mount=type=secret,id=ca-certificates \
    if [ -f /run/secrets/ca-certificates ]; then export NODE_EXTRA_CA_CERTS=/run/secrets/ca-certificates; fi; \
    npm ci --no-audit --no-fund --ignore-scripts
COPY tsconfig.json tsconfig.build.json ./
COPY imports imports
COPY manifests manifests
COPY controller controller
RUN npm run build && npm prune --omit=dev --no-audit --no-fund --ignore-scripts

FROM ${BASE_IMAGE}
WORKDIR /app
COPY --from=build /src/package.json ./
COPY --from=build /src/node_modules node_modules
COPY --from=build /src/build build
# 65532 is the runAsUser of the Deployments `agentway install` renders; numeric, so runAsNonRoot can check it.
USER 65532:65532
ENV NODE_ENV=production HOME=/tmp
ENTRYPOINT ["node", "/app/build/controller/cli.js"]
