# argus-gateway on Node.js 20. The TypeScript sources run through tsx, so there is no build step.
# One image for every role: `serve --roles ...` picks what a container runs (see docker-compose.yml).
FROM node:20-bookworm-slim
WORKDIR /opt/argus-gateway
COPY package.json package-lock.json .npmrc ./
RUN npm ci --omit=dev
COPY bin ./bin
COPY src ./src
COPY migrations ./migrations
COPY config ./config
COPY models/argus-demo ./models/argus-demo
COPY test/fixtures/tiny-argus ./test/fixtures/tiny-argus
COPY tsconfig.json ./
# /srv/argus-store is the instance store that listeners and workers share (a named volume or a network file system).
RUN mkdir -p /var/lib/argus-gateway /srv/argus-store && chown node:node /var/lib/argus-gateway /srv/argus-store
USER node
EXPOSE 11112 8081
ENTRYPOINT ["node", "bin/argus-gateway.js"]
CMD ["--config", "/etc/argus-gateway/argus-gateway.json", "serve"]
