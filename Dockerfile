# syntax=docker/dockerfile:1.7
# One image runs every role: `serve` (API), `migrate up` (the migration Job), `job <name>` (CronJobs).
# Base pinned to an exact release (the Node.js version CI tests with). The build pipeline may pin
# the digest too by passing NODE_IMAGE=node:<version>-bookworm-slim@sha256:<digest>.
ARG NODE_IMAGE=node:26.10.0-bookworm-slim

# The compile stage runs on the build machine's own platform (its output, JavaScript, is the same for
# every target), so a multi-platform build emulates only the production install below.
FROM --platform=$BUILDPLATFORM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --ignore-scripts
COPY tsconfig.json tsconfig.build.json ./
COPY app ./app
RUN npm run build

FROM ${NODE_IMAGE} AS prod-deps
WORKDIR /src
COPY package.json package-lock.json ./
# Production dependencies only, install scripts off (embedded PostgreSQL is a devDependency: in
# the cluster PostgreSQL is CloudNativePG).
RUN npm ci --omit=dev --no-audit --no-fund --ignore-scripts && npm cache clean --force

FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production \
    MIGRATIONS_DIR=/app/migrations \
    PORT=8080
WORKDIR /app
COPY --from=prod-deps --chown=root:root /src/node_modules ./node_modules
COPY --from=build --chown=root:root /src/dist ./dist
COPY --chown=root:root package.json ./
COPY --chown=root:root migrations ./migrations
# An unprivileged uid above the host range (10001) that owns nothing in /app, so the root
# filesystem can be mounted read-only.
USER 10001:10001
EXPOSE 8080
ENTRYPOINT ["node", "--enable-source-maps", "dist/app/main.js"]
CMD ["serve"]
