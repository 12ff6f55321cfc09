import { render } from "preact";
import "./style.css";

render(<p>Ferry</p>, document.getElementById("app")!);
