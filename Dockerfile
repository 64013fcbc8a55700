# The repository server. Node LTS, production dependencies only, running as the unprivileged `node` user.
FROM node:22-bookworm-slim
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY bin ./bin
COPY core ./core
COPY server ./server
COPY migrations ./migrations
COPY keys-offline ./keys-offline
COPY carry ./carry
COPY client ./client
COPY maintainer ./maintainer
COPY sigstore-local ./sigstore-local
RUN mkdir -p /var/lib/tuf/online-keys /var/lib/tuf/staging /home/node/tuf && chown -R node:node /var/lib/tuf /home/node/tuf
USER node
ENV NODE_ENV=production \
    PORT=8080 \
    HOST=0.0.0.0 \
    ONLINE_KEYS_DIR=/var/lib/tuf/online-keys \
    UPLOAD_STAGING_DIR=/var/lib/tuf/staging
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=3s CMD node -e "fetch('http://127.0.0.1:'+process.env.PORT+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
CMD ["node", "bin/tuf-server.mjs", "start"]
