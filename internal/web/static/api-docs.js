// chatrelay REST API reference: Swagger UI on this server's OpenAPI
// document. "Try it out" sends requests from this page (same origin); the
// Authorize button takes Basic credentials, a JWT or the API key.
"use strict";

window.addEventListener("DOMContentLoaded", () => {
  window.ui = SwaggerUIBundle({
    url: "/api/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
  });
});
