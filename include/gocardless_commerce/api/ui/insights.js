// The Insights page (filled in by the next commits).
import { pageHeader } from "./commerce.js";

document.getElementById("header").replaceChildren(pageHeader("Insights", "insights"));
