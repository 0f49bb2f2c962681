// Before the page is drawn: inside a frame (the console's), take the framed layout.
"use strict";
if (window.self !== window.top) document.documentElement.setAttribute("data-framed", "");
