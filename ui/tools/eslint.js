// Re-exports the lint packages from this workspace, where they resolve TypeScript 5.9 (the
// UI's own `typescript` is 7, which typescript-eslint cannot load).
export { default as js } from "@eslint/js";
export { default as globals } from "globals";
export { default as tseslint } from "typescript-eslint";
