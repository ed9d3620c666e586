# syntax=docker/dockerfile:1.20
# One image for every NexusFlow service: the gateway and each subgraph differ only in the entry
# point given as the command, e.g. `docker run nexusflow-supergraph subgraphs/nexusflow/auth/src/main.ts`.
# TypeScript runs through tsx, as it does locally, so there is no build step to drift from.
FROM node:24-alpine

WORKDIR /app

# The manifests alone first, so that editing source does not reinstall the dependencies.
COPY --parents package.json package-lock.json .npmrc packages/*/package.json subgraphs/*/*/package.json gateway/package.json ./

# --ignore-scripts: the install script of the `node` devDependency would download a glibc Node
# binary that cannot run on Alpine (the image's own Node 24 runs everything), and the remaining
# scripts (esbuild, protobufjs) only verify what the lockfile already pins.
RUN --mount=type=cache,target=/root/.npm npm ci --ignore-scripts --no-audit --no-fund

COPY . .

# The install above ran no scripts, so the fixes we carry for our dependencies (patches/, see README) apply here.
RUN npx --no-install patch-package --error-on-fail

# The embedded PGlite database lives here when DATABASE_URL is unset; nothing else is writable.
RUN mkdir -p .data && chown node:node .data

# Set after `npm ci`, which would otherwise leave out tsx with the other devDependencies.
# Inside a container the loopback default would make the service unreachable.
ENV NODE_ENV=production HOST=0.0.0.0

USER node

ENTRYPOINT ["node", "--import", "tsx"]
CMD ["gateway/src/main.ts"]
