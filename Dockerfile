# One image for every fleetkey service; the command picks the service. No key material is ever in the
# image: the data directory (CA, certificates, KEK) is a volume made by the `init` job.
FROM node:20-bookworm-slim
WORKDIR /app
COPY package.json package-lock.json tsconfig.json tsconfig.build.json ./
COPY certs certs
COPY store store
COPY protocol protocol
COPY errors errors
COPY broker broker
COPY provisioner provisioner
COPY kdc kdc
COPY consumer consumer
COPY device-sim device-sim
COPY cli cli
COPY bench bench
RUN npm ci --no-audit --no-fund && npm prune --omit=dev && chown -R node:node /app
USER node
ENV FLEETKEY_DIR=/data NODE_ENV=production
ENTRYPOINT ["node", "/app/dist/cli/main.js"]
CMD ["--help"]
