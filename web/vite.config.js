// The web app's build: `npm run build` (crates/web/build.rs runs it) writes dist/, which the
// binary embeds. PORCHLIGHT_WEB_OUT moves the output (the build script builds into OUT_DIR).
import { defineConfig } from 'vite';

export default defineConfig({
  build: {
    outDir: process.env.PORCHLIGHT_WEB_OUT || 'dist',
    emptyOutDir: true,
    assetsDir: 'assets',
    sourcemap: false,
    chunkSizeWarningLimit: 1024,
  },
});
