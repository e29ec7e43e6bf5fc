import { defineConfig } from "vite";

export default defineConfig({
  // Relative asset paths work both in the Tauri webview and when `switchboard serve` serves
  // the built UI from its control listener.
  base: "./",
  clearScreen: false,
  server: { port: 5173, strictPort: true },
  // Preact's automatic JSX runtime; Vite's built-in transform handles TSX, no plugin needed.
  oxc: { jsx: { runtime: "automatic", importSource: "preact" } },
  build: { target: "es2022", outDir: "dist", emptyOutDir: true },
});
