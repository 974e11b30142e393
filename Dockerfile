# karb's image: the karb CLI — `karb controller`, `karb gateway`, and `karb serve`, the built-in
# model server the controller's Deployments run — on Node.js 24, which runs karb's TypeScript as is.
# Its user is the unprivileged 65532 the Deployments' Pod Security "restricted" contexts name.
FROM node:24-bookworm-slim
WORKDIR /app
COPY package.json package-lock.json ./
# onnxruntime-node ships its CPU runtime in the package; its install script would fetch GPU libraries.
RUN ONNXRUNTIME_NODE_INSTALL=skip npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY src ./src
USER 65532:65532
ENTRYPOINT ["node", "/app/src/cli/main.ts"]
