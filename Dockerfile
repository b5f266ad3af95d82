# nodeplane image: docker build -t nodeplane:dev .   (kind/up.sh builds and loads it)
# Multi-stage on the official Node 24 slim image (Debian): the build stage compiles TypeScript to dist/,
# the final stage holds production dependencies, the compiled JS, and iproute2.

FROM node:24-slim AS build
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

FROM node:24-slim
# iproute2: the service proxy adds ClusterIP/LoadBalancer addresses to the nodeplane0 link with `ip`.
# File capabilities instead of root: `node` may bind :80/:443/:53 and manage addresses, `ip` may change
# links. Only these two binaries get them, and only the two capabilities the DaemonSet grants (a
# container whose bounding set lacks them simply does not get them).
RUN apt-get update \
 && apt-get install -y --no-install-recommends iproute2 libcap2-bin \
 && setcap cap_net_admin,cap_net_bind_service+ep "$(readlink -f "$(command -v node)")" \
 && setcap cap_net_admin+ep "$(readlink -f "$(command -v ip)")" \
 && apt-get purge -y libcap2-bin \
 && apt-get autoremove -y \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json .npmrc ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
COPY bin ./bin
# the official image's unprivileged user (uid 1000)
USER node
EXPOSE 80 443 10256
ENTRYPOINT ["node", "/app/bin/nodeplane.js"]
