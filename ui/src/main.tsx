import { render } from "preact";
import { App } from "./app";
import { start } from "./store";
import "./styles.css";

const root = document.getElementById("app");
if (root) {
  render(<App />, root);
  void start();
}
