# argus-gateway on Node.js 20. The TypeScript sources run through tsx, so there is no build step.
FROM node:20-bookworm-slim
WORKDIR /opt/argus-gateway
COPY package.json package-lock.json .npmrc ./
RUN npm ci --omit=dev
COPY bin ./bin
COPY src ./src
COPY migrations ./migrations
COPY config ./config
COPY test/fixtures/tiny-argus ./test/fixtures/tiny-argus
COPY tsconfig.json ./
RUN mkdir -p /var/lib/argus-gateway && chown node:node /var/lib/argus-gateway
USER node
EXPOSE 11112
ENTRYPOINT ["node", "bin/argus-gateway.js"]
CMD ["--config", "/etc/argus-gateway/argus-gateway.json", "serve"]
