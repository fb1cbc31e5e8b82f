// Starts Swagger UI on /docs. A file, not an inline <script>, so the page works under
// Content-Security-Policy: default-src 'self'. The spec URL comes from the page (data-spec-url).
//
// The bundled Swagger UI (4.x) refuses documents whose `openapi` is not 3.0.x, and ours is 3.1,
// so the document is fetched here and shown labelled 3.0.3; /openapi.json itself is untouched.
"use strict";
window.addEventListener("DOMContentLoaded", function () {
  var root = document.getElementById("swagger-ui");
  if (!root || typeof window.SwaggerUIBundle !== "function") {
    return;
  }
  var specUrl = root.getAttribute("data-spec-url") || "/openapi.json";

  function start(options) {
    var config = {
      dom_id: "#swagger-ui",
      deepLinking: true,
      docExpansion: "list",
      defaultModelsExpandDepth: 0,
      presets: [window.SwaggerUIBundle.presets.apis],
      plugins: [window.SwaggerUIBundle.plugins.DownloadUrl],
      layout: "BaseLayout"
    };
    for (var key in options) {
      config[key] = options[key];
    }
    window.ui = window.SwaggerUIBundle(config);
  }

  fetch(specUrl, { headers: { Accept: "application/json" }, credentials: "same-origin" })
    .then(function (response) {
      if (!response.ok) {
        throw new Error("HTTP " + response.status);
      }
      return response.json();
    })
    .then(function (spec) {
      if (typeof spec.openapi === "string" && spec.openapi.indexOf("3.1.") === 0) {
        spec.openapi = "3.0.3";
      }
      start({ spec: spec });
    })
    .catch(function () {
      start({ url: specUrl });   // let Swagger UI fetch it and show its own error
    });
});
