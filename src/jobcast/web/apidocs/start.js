// Swagger UI for jobcast's API, from the pinned fastapi-offline package's files (no CDN: it
// works offline, and under the Content-Security-Policy, which allows no inline script).
window.addEventListener("load", function () {
  "use strict";
  window.ui = SwaggerUIBundle({
    url: "openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis],
  });
});
