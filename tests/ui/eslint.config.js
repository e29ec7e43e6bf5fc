// Lints the browser tests with the UI's tooling (`npm --prefix ui run lint` covers both).
import { globals, js } from "../../ui/tools/eslint.js";

export default [
  js.configs.recommended,
  {
    files: ["**/*.{js,mjs}"],
    languageOptions: {
      ecmaVersion: "latest",
      sourceType: "module", // page.evaluate() callbacks run in the browser.
      globals: { ...globals.node, ...globals.browser },
    },
  },
];
