import { render } from "preact";
import { Root } from "./ui/Root";
import "./style.css";

render(<Root />, document.getElementById("app")!);
