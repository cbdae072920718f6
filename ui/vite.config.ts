/// <reference types="vitest" />
import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";

// `npm run dev` serves the app with hot reload and forwards API calls to a running
// `spyglass serve` (or `scripts/run demo`) on :6060, so the dev server needs no data of its own.
const api = process.env.SPYGLASS_API ?? "http://127.0.0.1:6060";

export default defineConfig({
  plugins: [react()],
  server: {
    proxy: {
      "/api": { target: api, ws: true },
      "/healthz": api,
      "/readyz": api,
    },
  },
  build: {
    outDir: "dist",
    // Hashed file names under assets/ let the server cache them for a year.
    assetsDir: "assets",
    sourcemap: false,
  },
  test: {
    include: ["src/**/*.test.ts"],
    environment: "node",
  },
});
