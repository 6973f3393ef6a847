// The Merchants page (filled in by the next commits).
import { pageHeader } from "./commerce.js";

document.getElementById("header").replaceChildren(pageHeader("Merchants", "merchants"));
